"""The installed source plugins, as the dashboard sees them: nothing here names a source.

Pipeline Health shows a row per installed plugin, its raw dataset's loads and the freshness it declares; the
half-loaded check (:mod:`dashboard.loads`) reads each plugin's raw dataset. Installing a plugin package adds it
here with no edit to the dashboard. A plugin whose entry point fails to import is reported, not fatal.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points

import streamlit as st

from marketing_dwh.registry import ENTRY_POINT_GROUP, PluginLoadError, SourcePlugin, get


@dataclass(frozen=True)
class Installed:
    """The plugins that loaded, and why the others did not (one message per broken entry point)."""

    plugins: tuple[SourcePlugin, ...]
    problems: tuple[str, ...] = ()

    def raw_datasets(self) -> dict[str, str]:
        """Plugin name -> its warehouse raw dataset, by name."""
        return {plugin.name: plugin.dataset_name for plugin in self.plugins}


def discover_plugins() -> Installed:
    """Every plugin registered under ``mdw.sources``, each loaded on its own so a broken one spares the rest."""
    plugins, problems = [], []
    for name in sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}):
        try:
            plugins.append(get(name))
        except PluginLoadError as exc:
            problems.append(str(exc))
    return Installed(tuple(plugins), tuple(problems))


@st.cache_resource(show_spinner=False)
def installed() -> Installed:
    """The installed plugins, discovered once per dashboard process (installing one means restarting it)."""
    return discover_plugins()


def raw_datasets() -> dict[str, str]:
    """Plugin name -> raw dataset of every installed plugin: the raw datasets the dashboard reads."""
    return installed().raw_datasets()
