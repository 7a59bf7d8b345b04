"""Benchmark results as data: each bench saves its tables here, ``tests/bench/readme.py`` writes them into the README.

A table is a header and rows of already formatted cells (a figure beside its in-run reference and their ratio),
saved as ``data/bench/results/<table id>.json`` with the date and machine it was measured on. The README holds one
block per table id between ``<!-- bench:<id> -->`` and ``<!-- /bench:<id> -->``; nothing in those blocks is edited
by hand.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "data" / "bench" / "results"


@dataclass
class Table:
    """One README table: ``header`` and ``rows`` of formatted cells; ``note`` is printed under it."""

    id: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""
    measured: str = ""
    machine: str = ""

    def add(self, *cells: object) -> None:
        assert len(cells) == len(self.header), (cells, self.header)
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        when = f"Measured {self.measured} on {self.machine} (`make bench`)."
        return "\n".join(lines) + "\n\n" + (f"{self.note} {when}" if self.note else when)

    def save(self) -> Path:
        """Write the table (stamped with today's date and this machine) and print it."""
        self.measured = datetime.now(UTC).date().isoformat()
        self.machine = f"{os.cpu_count()} cores, {platform.machine()}"
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.id}.json"
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        print(f"\n[{self.id}]\n{self.markdown()}\n", flush=True)
        return path


def load(table_id: str) -> Table | None:
    path = RESULTS / f"{table_id}.json"
    return Table(**json.loads(path.read_text())) if path.exists() else None


def seconds(value: float) -> str:
    return f"{value:,.2f} s" if value < 10 else f"{value:,.1f} s"


def megabytes(value_bytes: float) -> str:
    return f"{value_bytes / 1e6:,.0f} MB"


def ratio(value: float, reference: float) -> str:
    """``value`` / ``reference`` as "1.23x"."""
    return f"{value / reference:.2f}x"


def percent(value: float) -> str:
    return f"{value:.0%}"
