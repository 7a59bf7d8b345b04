"""What a run did: per step and per table, as recorded in ``ops`` and printed by the CLI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class TableReport:
    table: str
    rows: int = 0  # rows received (extract: written to Bronze; load: loaded into the raw table)
    quarantined: int = 0
    schema_changes: list[str] = field(default_factory=list)
    # of the keys loaded (the table's entity key): how many were new, how many updated an existing one;
    # None where the merge does not tell (append tables, day-replacing merges)
    new: int | None = None
    updated: int | None = None
    warnings: list[str] = field(default_factory=list)
    # dlt variant columns (``spend__v_text``) the raw table holds after a load: values that did not fit their
    # column's type, which staging does not read (see pipelines.contract)
    variant_columns: list[str] = field(default_factory=list)


@dataclass
class StepReport:
    source: str
    step: str  # extract (source -> Bronze) | load (Bronze -> warehouse) | replay | dbt
    started_at: datetime
    duration_s: float = 0.0
    status: str = "running"  # ok | failed | nothing_new
    error: str | None = None
    load_id: str | None = None
    resume_at: str | None = None  # extract: the source paused (e.g. an hourly quota) and resumes at (ISO, UTC)
    tables: dict[str, TableReport] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    transient: bool | None = None  # failed: may a later try succeed (pipelines.errors.is_transient)

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport(name))


@dataclass
class RunReport:
    target: str
    command: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    steps: list[StepReport] = field(default_factory=list)
    warehouse: str | None = None

    @property
    def status(self) -> str:
        """failed (a step failed) | ok; in ``ops.runs`` a run is also running (until it ends) or interrupted."""
        return "failed" if any(s.status == "failed" for s in self.steps) else "ok"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


def format_summary(report: RunReport) -> str:
    """A plain-text table of the run: one line per step and table."""
    header = ("source", "step", "table", "rows", "new", "updated", "quarantined", "schema changes", "seconds", "status")
    lines: list[tuple[str, ...]] = []
    for step in report.steps:
        first = True
        tables = list(step.tables.values()) or [TableReport("-")]
        for t in tables:
            lines.append(
                (
                    step.source if first else "",
                    step.step if first else "",
                    t.table,
                    str(t.rows),
                    "" if t.new is None else str(t.new),
                    "" if t.updated is None else str(t.updated),
                    str(t.quarantined) if t.quarantined else "",
                    ", ".join(t.schema_changes),
                    f"{step.duration_s:.1f}" if first else "",
                    step.status if first else "",
                )
            )
            first = False
    widths = [max(len(h), *(len(r[i]) for r in lines)) if lines else len(h) for i, h in enumerate(header)]
    widths[7] = min(widths[7], 60)

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(c[: widths[i]].ljust(widths[i]) for i, c in enumerate(row)).rstrip()

    out = [fmt(header), fmt(tuple("-" * w for w in widths))]
    out += [fmt(r) for r in lines]
    total = sum(s.duration_s for s in report.steps)
    quarantined = sum(t.quarantined for s in report.steps if s.step != "extract" for t in s.tables.values())
    out.append("")
    out.append(
        f"run {report.run_id} on target '{report.target}': {report.status}, {total:.1f} s, "
        f"{quarantined} row(s) quarantined"
    )
    for s in report.steps:
        if s.error:
            out.append(f"  {s.source}/{s.step} failed: {s.error}")
        out += [f"  warning: {s.source}: {w}" for w in s.warnings]
        out += [f"  warning: {s.source}/{t.table}: {w}" for t in s.tables.values() for w in t.warnings]
    if report.warehouse:
        out.append(f"warehouse: {report.warehouse}")
    return "\n".join(out)
