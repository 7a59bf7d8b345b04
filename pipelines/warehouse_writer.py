"""Writing the local DuckDB warehouse: one writer at a time, and patience with readers.

DuckDB allows one writer per file, and any open connection, even a read-only one (the dashboard's), keeps a
writer out. A writer here first takes the inter-process lock ``<warehouse>.lock`` (other ``mdw`` writers wait
their turn), then opens the file, retrying with backoff while a reader holds it, for up to
``mdw.targets.local.duckdb_lock_wait_s`` (default 120 s). dlt then loads through that one open connection
(dlt borrows it and never closes it), so no reader can slip in between two steps of a load.

BigQuery has no such limits: the writer is simply the target's destination.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from pipelines.errors import chain
from pipelines.locks import exclusive
from pipelines.targets import Target

Progress = Callable[[str], None]
_backoff = wait_exponential(multiplier=0.1, max=5.0)  # while a reader holds the file: 0.1 s, 0.2 s, ... 5 s
# DuckDB's memory_limit for a load that streams, when mdw.targets.local.duckdb_memory_limit is unset (see
# streaming_memory): the CRM loads of 1M-4M orders run in it ~0.2 s slower per 1M orders (128MB: ~0.4 s)
STREAMING_LOAD_MEMORY = "256MB"


class WarehouseBusy(RuntimeError):
    """The DuckDB file stayed locked by another process for longer than the writer waits."""

    transient = True  # pipelines.errors: a later try may find the file free


class WarehouseOutOfMemory(RuntimeError):
    """DuckDB reached its ``memory_limit`` during a load: the same load needs the same memory, so a later try
    fails the same way until the setting changes."""

    transient = False


def _say(progress: Progress | None, message: str) -> None:
    if progress:
        progress(message)


def connect_writer(target: Target, progress: Progress | None = None) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the DuckDB warehouse, waiting with backoff while another process holds the file."""
    assert target.warehouse_path is not None
    # raw tables have no row order (reads order explicitly): not keeping it halves DuckDB's bulk insert time and
    # memory (1M CRM orders from Parquet into a table: 8.0 s -> 3.7 s on 2 cores)
    config: dict[str, Any] = {"preserve_insertion_order": False}
    if target.duckdb_memory_limit:
        config["memory_limit"] = target.duckdb_memory_limit
    limit = target.duckdb_lock_wait_s

    def wait(state: RetryCallState) -> float:  # 0.1 s, doubling up to 5 s, never beyond the limit
        return min(_backoff(state), max(limit - state.seconds_since_start, 0.01))

    def say_waiting(state: RetryCallState) -> None:
        if state.attempt_number == 1:
            _say(
                progress,
                f"the warehouse {target.warehouse_path} is open in another process (a reader such as the "
                f"dashboard); retrying for up to {limit:g} s",
            )

    retrying = Retrying(
        retry=retry_if_exception(lambda exc: isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()),
        stop=stop_after_delay(limit),
        wait=wait,
        before_sleep=say_waiting,
        reraise=True,
    )
    try:
        connection = retrying(duckdb.connect, str(target.warehouse_path), config=config)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        waited = retrying.statistics.get("delay_since_first_attempt", limit)
        raise WarehouseBusy(
            f"the warehouse {target.warehouse_path} stayed locked by another process for {waited:.0f} s "
            f"({str(exc).splitlines()[0]}): close the reader (e.g. the dashboard) or raise "
            f"mdw.targets.{target.name}.duckdb_lock_wait_s"
        ) from exc
    if retrying.statistics["attempt_number"] > 1:
        waited = time.monotonic() - retrying.statistics["start_time"]  # tenacity's start, on the monotonic clock
        _say(progress, f"the warehouse {target.warehouse_path} is free after waiting {waited:.1f} s")
    return connection


@contextlib.contextmanager
def writer_lock(target: Target, progress: Progress | None = None) -> Iterator[None]:
    """Hold the local warehouse's writer lock for the block (nothing to hold for BigQuery)."""
    if not target.is_local_duckdb:
        yield
        return
    assert target.warehouse_path is not None
    lock = target.warehouse_path.with_name(target.warehouse_path.name + ".lock")
    with exclusive(lock, f"writer of the warehouse {target.warehouse_path}", target.lock_timeout_s, progress):
        yield


@contextlib.contextmanager
def warehouse_writer(target: Target, progress: Progress | None = None) -> Iterator[Any]:
    """The dlt destination to write the warehouse with during the block.

    Local DuckDB: holds the writer lock and one open connection (opened after waiting for readers).
    """
    with writer_lock(target, progress):
        if not target.is_local_duckdb:
            yield target.warehouse_destination()
            return
        connection = connect_writer(target, progress)
        try:
            yield target.warehouse_destination(connection)
        except WarehouseOutOfMemory:
            raise
        except Exception as exc:
            out_of_memory = _duckdb_out_of_memory(exc)
            if out_of_memory is None:
                raise
            raise WarehouseOutOfMemory(_out_of_memory(target, out_of_memory)) from exc
        finally:
            connection.close()


@contextlib.contextmanager
def streaming_memory(pipeline: Any, target: Target, streams: bool) -> Iterator[None]:
    """Run a load of the local DuckDB whose memory does not grow with its rows (``streams``, see
    :func:`pipelines.bronze.load_streams`) in STREAMING_LOAD_MEMORY, unless ``duckdb_memory_limit`` is set.

    DuckDB keeps every block a load writes cached up to its limit (by default 80% of RAM): such a load then holds
    ~0.5 GB per 1M CRM orders it does not need. Loads that merge many rows keep DuckDB's default: the staging and
    de-duplicating window of dlt's merge need memory for all of them."""
    if target.duckdb_memory_limit or not streams or not target.is_local_duckdb:
        yield
        return
    with pipeline.sql_client() as client:  # a global setting: every cursor of the borrowed connection
        client.execute_sql(f"SET memory_limit = '{STREAMING_LOAD_MEMORY}'")
    try:
        yield
    except Exception as exc:
        out_of_memory = _duckdb_out_of_memory(exc)
        if out_of_memory is None:
            raise
        raise WarehouseOutOfMemory(_out_of_memory(target, out_of_memory, STREAMING_LOAD_MEMORY)) from exc
    finally:
        # after a failure the load's own error is the one to report: a connection too broken to reset fails the
        # next statement with its own
        with contextlib.suppress(Exception), pipeline.sql_client() as client:
            client.execute_sql("RESET memory_limit")


def _duckdb_out_of_memory(exc: BaseException) -> BaseException | None:
    return next((e for e in chain(exc) if isinstance(e, duckdb.OutOfMemoryException)), None)


def _out_of_memory(target: Target, exc: BaseException, streaming: str | None = None) -> str:
    """What to change when DuckDB ran out of memory during a load: the setting that bounds it and the one that
    bounds the load's size. ``streaming``: the limit a load that streams ran in (the setting unset)."""
    if target.duckdb_memory_limit:
        limit = f"now {target.duckdb_memory_limit}"
    elif streaming:
        limit = f"unset: this load streams and ran in {streaming}; setting it raises that"
    else:
        limit = "unset: DuckDB's default, 80% of RAM"
    return (
        f"DuckDB ran out of memory loading the warehouse {target.warehouse_path} ({str(exc).splitlines()[0]}): raise "
        f"mdw.targets.{target.name}.duckdb_memory_limit ({limit}) or lower mdw.load_max_files (now "
        f"{target.load_max_files} Bronze files per table in one load)"
    )
