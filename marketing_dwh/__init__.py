"""marketing-dwh's API for source plugin authors, under the distribution's own import name.

A plugin declares itself with :class:`SourcePlugin` and :class:`TableSpec`, offers its offline sample data through a
sandbox (:data:`no_sandbox` when it needs none), may provide shared Gold interfaces (:data:`GOLD_INTERFACES`, e.g.
the ad-platform contract) from its dbt package, declares its settings as a dlt configspec checked before anything
runs (:class:`SourceConfiguration`, errors as :class:`SettingError`), and checks itself with :func:`check_plugin`
(the conformance suite behind ``mdw check-plugin``). Its sandbox renders its sample data from the shared demo
world, :class:`marketing_dwh.demo_world.DemoWorld` (the days, campaigns, customers and ad delivery, defined once)::

    from marketing_dwh import SourcePlugin, TableSpec

Import from here, not from ``sources.registry``: a project's own ``sources/`` folder (common in dlt projects)
shadows that name.
"""

from __future__ import annotations

from typing import Any

from marketing_dwh.registry import (
    ENTRY_POINT_GROUP,
    FROZEN_DATA_TYPES,
    GOLD_INTERFACES,
    Sandbox,
    SourcePlugin,
    TableSpec,
    WriteDisposition,
    messages_of_load,
    no_sandbox,
)
from marketing_dwh.settings import SettingError, SourceConfiguration

__all__ = [
    "SettingError",
    "SourceConfiguration",
    "ENTRY_POINT_GROUP",
    "FROZEN_DATA_TYPES",
    "GOLD_INTERFACES",
    "CheckResult",
    "Sandbox",
    "SourcePlugin",
    "TableSpec",
    "WriteDisposition",
    "check_plugin",
    "messages_of_load",
    "no_sandbox",
]


def __getattr__(name: str) -> Any:
    # the conformance suite runs the framework's pipelines: imported when first asked for, not by every plugin import
    if name in ("check_plugin", "CheckResult"):
        from marketing_dwh import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module 'marketing_dwh' has no attribute {name!r}")
