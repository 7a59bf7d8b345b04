"""The source plugin registry under its older name: it is defined in :mod:`marketing_dwh.registry` and only
re-exported here for plugins written before it. The framework and the built-in plugins import
:mod:`marketing_dwh` (a project's own ``sources/`` folder shadows this module's name)."""

from marketing_dwh.registry import (
    ENTRY_POINT_GROUP,
    FROZEN_DATA_TYPES,
    GOLD_INTERFACES,
    PluginLoadError,
    Sandbox,
    SourcePlugin,
    TableSpec,
    UnknownSourceError,
    WriteDisposition,
    discover,
    get,
    no_sandbox,
    resolve,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "FROZEN_DATA_TYPES",
    "GOLD_INTERFACES",
    "PluginLoadError",
    "Sandbox",
    "SourcePlugin",
    "TableSpec",
    "UnknownSourceError",
    "WriteDisposition",
    "discover",
    "get",
    "no_sandbox",
    "resolve",
]
