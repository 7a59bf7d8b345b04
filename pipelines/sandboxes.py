"""The demo world that plugins' offline sandboxes receive (``mdw run --demo``, ``mdw demo``, ``mdw check-plugin``)."""

from __future__ import annotations

from typing import Any


class LazyDemoWorld:
    """The shared ``DemoWorld`` (``sources/demo_world``), imported and built on first use.

    A sandbox that never looks at the world (a third-party plugin with its own sample data) then needs nothing from
    the ``sources`` package, which a project's own ``sources/`` folder may shadow.
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._world: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._world is None:
            from sources.demo_world import DemoWorld

            self._world = DemoWorld(scale=self.scale)
        return getattr(self._world, name)
