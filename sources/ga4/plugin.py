"""Registration of the GA4 source (entry point ``mdw.sources: ga4``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sources.ga4 import ga4
from sources.ga4.tables import TABLES
from sources.registry import SourcePlugin


@contextlib.contextmanager
def sandbox(world: Any, workdir: Path) -> Iterator[dict[str, Any]]:
    """Serve the demo world's GA4 property from the Data API emulator; the real client talks REST to it."""
    from sources.ga4.emulator import DataApiEmulator, demo_data

    data = demo_data(world)
    with DataApiEmulator(data) as emulator:
        yield {
            "property_ids": list(data.properties),
            "api_endpoint": emulator.url,
            "transport": "rest",
            "start_date": world.start.isoformat(),
        }


plugin = SourcePlugin(
    name="ga4",
    description="Google Analytics 4: daily traffic, purchases and configured reports from the Data API",
    source_factory=ga4,
    config_section="sources.ga4",
    sandbox=sandbox,
    tables=TABLES,
    backfill_args=("since", "until"),
)
