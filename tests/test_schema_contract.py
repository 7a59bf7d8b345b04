"""Schema drift is never silent: a value that does not fit its column's type stops the run (or is quarantined by
its plugin), never lands as a variant column with a NULL in the typed one; a variant column that exists anyway
is reported in the summary and ``ops.run_tables``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from conftest import query
from marketing_dwh.registry import FROZEN_DATA_TYPES, SourcePlugin, TableSpec, no_sandbox
from pipelines.ops import record_run
from pipelines.report import RunReport, format_summary
from pipelines.runner import run_source
from pipelines.targets import Target


@dlt.source(name="weather")
def weather(rows: list[dict[str, Any]]) -> Any:
    """Rows as a plugin yields them (dicts), without typing them itself."""
    return dlt.resource(rows, name="readings", write_disposition="append")


def plugin(**columns: dict[str, Any]) -> SourcePlugin:
    spec = TableSpec("merge", ("store_id", "day"), columns=columns)
    return SourcePlugin("weather", "test plugin", weather, "sources.weather", no_sandbox, {"readings": spec})


def reading(day: int, temp_c: Any, **extra: Any) -> dict[str, Any]:
    return {"store_id": 1, "day": f"2026-08-{day:02d}", "temp_c": temp_c, **extra}


def run(target: Target, source: SourcePlugin, *rows: dict[str, Any]) -> RunReport:
    report = RunReport(target.name, "test")
    run_source(source, target, report, {"rows": list(rows)})
    return report


def step(report: RunReport, name: str) -> Any:
    return next(s for s in report.steps if s.step == name)


def variants(target: Target) -> list[tuple]:
    return query(
        target,
        "select table_name, column_name from information_schema.columns "
        "where table_schema like 'raw_%' and strpos(column_name, '__v_') > 0",
    )


def test_plugins_freeze_data_types_and_may_not_drop_rows() -> None:
    assert dict(plugin().schema_contract) == {"tables": "evolve", "columns": "evolve", "data_type": "freeze"}
    assert dict(FROZEN_DATA_TYPES) == dict(plugin().schema_contract)
    for contract in ({"data_type": "evolve"}, {"data_type": "discard_row"}, {"columns": "discard_value"}):
        with pytest.raises(ValueError, match="schema_contract"):
            SourcePlugin("x", "", weather, "s", no_sandbox, {}, schema_contract={**FROZEN_DATA_TYPES, **contract})


def test_misfits_name_the_values_dlt_could_not_store_in_their_declared_type() -> None:
    spec = TableSpec(
        columns={"spend": {"data_type": "decimal", "precision": 38, "scale": 9}, "day": {"data_type": "date"}}
    )
    assert spec.misfits({"spend": "1.5", "day": "2026-08-01", "other": "x"}) == []
    assert spec.misfits({"spend": None, "day": None}) == [] and spec.misfits({"spend": 2}) == []
    assert spec.misfits({"spend": "1,5", "day": "01.08.2026"}) == [
        "column spend: value '1,5' (text) does not fit its type decimal(38, 9)",
        "column day: value '01.08.2026' (text) does not fit its type date",
    ]


def test_a_value_that_changes_type_in_the_extract_stops_the_run_naming_it(target: Target) -> None:
    source = plugin()
    assert not run(target, source, reading(1, 18.5)).failed
    report = run(target, source, reading(2, 19.0), reading(3, "19,5"))  # temp_c was a double
    extract = step(report, "extract")
    assert extract.status == "failed"
    message = extract.error
    load_id = re.search(r"load (\d+\.\d+) was not loaded", message)
    assert load_id, message
    for part in ("table readings", "column temp_c", "value '19,5'", "(text)", "its type double"):
        assert part in message, message
    assert "failed: source 'weather': schema contract" in format_summary(report)
    # nothing half-done: no variant anywhere, the refused package is gone, the next run takes the rows again
    assert variants(target) == []
    assert not list(Path(target.bronze_url, "weather", "readings").glob(f"{load_id.group(1)}*"))
    bronze = dlt.attach("weather_bronze", pipelines_dir=target.pipelines_dir)
    assert not bronze.has_pending_data
    again = run(target, source, reading(2, 19.0), reading(3, 19.5))
    assert not again.failed, [s.error for s in again.steps]
    assert query(target, "select day, temp_c from raw_weather.readings order by day") == [
        ("2026-08-01", 18.5),
        ("2026-08-02", 19.0),
        ("2026-08-03", 19.5),
    ]


def test_a_value_that_does_not_fit_a_declared_type_stops_the_load_naming_it(target: Target) -> None:
    # the plugin declares temp_c a double for the warehouse but yields text: Bronze keeps "19,5" as sent
    source = plugin(temp_c={"data_type": "double"})
    assert not run(target, source, reading(1, "18.5")).failed
    report = run(target, source, reading(2, "19,5"))
    assert step(report, "extract").status == "ok"
    load = step(report, "load")
    assert load.status == "failed"
    for part in ("schema contract: table readings, column temp_c", "value '19,5' (text)", "its type double", "load "):
        assert part in load.error, load.error
    assert variants(target) == []
    assert query(target, "select day, temp_c from raw_weather.readings") == [("2026-08-01", 18.5)]  # never a NULL
    warehouse = dlt.attach("weather_warehouse", pipelines_dir=target.pipelines_dir)
    assert not warehouse.has_pending_data  # the next run meets the same Bronze file and stops again, never half-done
    rerun = step(run(target, source), "load")
    assert rerun.status == "failed" and "column temp_c: value '19,5'" in rerun.error


def test_a_variant_column_that_exists_anyway_is_reported(target: Target) -> None:
    # a Bronze row written before the contract carries dlt's variant column next to the (NULL) typed one
    source = plugin()
    report = run(target, source, reading(1, 18.5), reading(2, None, temp_c__v_text="19,5"))
    assert not report.failed, [s.error for s in report.steps]
    table = step(report, "load").tables["readings"]
    assert table.variant_columns == ["temp_c__v_text"]
    summary = format_summary(report)
    assert "warning: weather/readings: variant column(s) temp_c__v_text: values that did not fit" in summary
    record_run(report, target)
    assert query(
        target, "select variant_columns from ops.run_tables where step = 'load' and table_name = 'readings'"
    ) == [("temp_c__v_text",)]
    # reported after every load while it exists, also one added by hand
    with duckdb.connect(str(target.warehouse_path)) as con:
        con.execute("alter table raw_weather.readings add column rain_mm__v_double double")
    later = step(run(target, source, reading(3, 20.0)), "load").tables["readings"]
    assert later.variant_columns == ["rain_mm__v_double", "temp_c__v_text"]


def test_a_plugin_that_moves_its_dedup_sort_hint_to_another_column_loads_on(target: Target) -> None:
    """An earlier version of the plugin sorted duplicates by one column, the new one by another: the warehouse's
    stored dlt schema drops the old hint (dlt refuses a table with two), and the new column decides."""
    before = plugin(temp_c={"dedup_sort": "desc", "data_type": "double"})
    assert not run(target, before, reading(1, 20.0), reading(1, 21.0)).failed
    after = plugin(seq={"dedup_sort": "desc", "data_type": "bigint"})
    report = run(target, after, reading(2, 6.0, seq=1), reading(2, 5.0, seq=2))
    assert not report.failed, [s.error for s in report.steps if s.error]
    assert query(target, "select day::varchar, temp_c from raw_weather.readings order by day") == [
        ("2026-08-01", 21.0),
        ("2026-08-02", 5.0),  # the later seq, not the higher temperature
    ]
