"""Bronze: the immutable raw files every source run lands first, and reading them back.

Layout (dlt filesystem destination, default layout)::

    <bronze_url>/<source>/<table>/<load_id>.<file_id>.<parquet|jsonl.gz>

A Bronze file is written once and never changed. The warehouse raw dataset is loaded from these files only,
which is what makes ``mdw replay <source>`` possible without calling any API.

The reader keeps, per table, the path of the last Bronze file it loaded in dlt resource state. The state is
committed with the warehouse load, so a crash never skips or repeats a file. Files sort by path, and the path
starts with the load id, so they are read in the order they landed. ``max_files`` bounds how many files one
warehouse load takes per table: large backlogs load in several bounded merges, keeping memory flat.

When the warehouse can read the Bronze files itself (a local DuckDB file, Bronze in a local folder), the Parquet
files are not read in Python at all: the resource yields a dlt SQL model item (``SELECT ... FROM
read_parquet([...])``), dlt's DuckDB destination runs it as ``INSERT INTO <table or its staging table> SELECT``,
and its merge, state and load id work as for any other item. The column hints come from the files' Parquet
schemas (the footers), so the warehouse table has the same columns and types as through Arrow.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.common.configuration import resolve_configuration
from dlt.common.data_writers.escape import escape_postgres_identifier as _name  # DuckDB's, as dlt quotes
from dlt.common.libs.pyarrow import py_arrow_to_table_schema_columns
from dlt.common.storages import FilesystemConfiguration
from dlt.common.storages.fsspec_filesystem import FileItemDict, fsspec_from_config, glob_files
from dlt.destinations.adapters import bigquery_adapter
from dlt.sources import DltResource

from marketing_dwh.registry import SourcePlugin, TableSpec

BRONZE_LOAD_ID = "_bronze_load_id"
DLT_COLUMNS = ("_dlt_load_id", "_dlt_id")  # the Bronze pipeline's own columns: the warehouse load sets its own
BATCH_ROWS = 250_000
JSONL_CHUNK_ROWS = 10_000  # rows of a JSONL file held at once (the whole file was read into memory before)
DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz")
# rows of dlt merges (staged, then ranked by a window) a local load may hold and still stream (load_streams)
SMALL_MERGE_ROWS = 50_000


@dataclass
class Backlog:
    """Bronze files still waiting per table after a bounded load."""

    pending: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.pending.values())


def bronze_dataset_url(bronze_url: str, plugin: SourcePlugin) -> str:
    return f"{bronze_url.rstrip('/')}/{plugin.name}"


def _fs(url: str) -> Any:
    """The Bronze filesystem with the Bronze destination's credentials (``[destination.bronze.credentials]``,
    else Google application default credentials for gs://), so the reader sees what the writer wrote."""
    config = resolve_configuration(FilesystemConfiguration(bucket_url=url), sections=("destination", "bronze"))
    return fsspec_from_config(config)[0]


def _files(root: str, table: str) -> list[FileItemDict]:
    fs = _fs(root)
    items = [FileItemDict(f, fs) for f in glob_files(fs, root, f"{table}/*")]
    return sorted((i for i in items if i["file_name"].endswith(DATA_SUFFIXES)), key=lambda i: i["relative_path"])


def bronze_tables(bronze_url: str, plugin: SourcePlugin) -> list[str]:
    """Data tables present in Bronze for this source (dlt's own ``_dlt_*`` tables excluded)."""
    root = bronze_dataset_url(bronze_url, plugin)
    fs = _fs(root)
    path = root.split("://", 1)[-1]
    if not fs.exists(path):
        return []
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(path, detail=False) if fs.isdir(p)}
    return sorted(n for n in names if not n.startswith("_dlt"))


def bronze_load_id(file_name: str) -> str:
    """The Bronze load id a file landed with: its name is ``<load_id>.<file_id>.<ext>`` (the load id has a dot)."""
    return ".".join(file_name.split(".", 2)[:2])


def read_bronze_file(item: FileItemDict) -> Iterator[Any]:
    """Rows of one Bronze file (Arrow batches or dicts), tagged with the Bronze load id they came from."""
    name = item["file_name"]
    load_id = bronze_load_id(name)
    if name.endswith(".parquet"):
        with item.open() as f:
            parquet = pq.ParquetFile(f)
            drop = [c for c in DLT_COLUMNS if c in parquet.schema_arrow.names]
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):  # bounded memory per file
                table = pa.Table.from_batches([batch]).drop_columns(drop)
                yield table.append_column(BRONZE_LOAD_ID, pa.repeat(pa.scalar(load_id, pa.string()), table.num_rows))
        return
    # JSONL: streamed line by line in chunks, like dlt's ``read_jsonl``. That reader itself cannot be used: dlt's
    # filesystem destination gzips ``.jsonl`` files without a ``.gz`` name, and ``FileItemDict.open()`` only
    # decompresses what its name (mime encoding) says is gzip, so the content is sniffed here instead.
    with item.open(compression="disable") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        lines = gzip.GzipFile(fileobj=raw) if gzipped else raw
        rows: list[dict[str, Any]] = []
        for line in lines:
            if line.strip():
                row = json.loads(line)
                row.pop("_dlt_load_id", None)
                row.pop("_dlt_id", None)
                row[BRONZE_LOAD_ID] = load_id
                rows.append(row)
                if len(rows) >= JSONL_CHUNK_ROWS:
                    yield rows
                    rows = []
        if rows:
            yield rows


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parquet_in_place(
    dataset: Any, root: str, items: list[FileItemDict], table: str = "", insert_only: TableSpec | None = None
) -> Any:
    """A dlt SQL model item that makes the warehouse (DuckDB) read the local Parquet ``items`` itself: their data
    columns, and the Bronze load id taken from each file's name, with column hints from the files' own schemas.

    ``insert_only``: the spec of ``table`` when its rows are immutable. The item then carries only the keys not yet
    in the table, deduplicated as dlt's merge would (``_insert_only``), and is appended: no staging copy, no merge."""
    columns: dict[str, Any] = {}
    paths = [str(Path(root) / item["relative_path"]) for item in items]
    for path in paths:
        for name, column in py_arrow_to_table_schema_columns(pq.read_schema(path)).items():
            if name not in DLT_COLUMNS:
                columns.setdefault(name, column)
    columns[BRONZE_LOAD_ID] = {"name": BRONZE_LOAD_ID, "data_type": "text", "nullable": True}
    # the first two dot-separated parts of the file's name (bronze_load_id); DuckDB evaluates this regular expression
    # once per vector of a file's rows, split_part(parse_filename(...)) once per row (1M rows: 0.11 s -> 0.003 s)
    load_id = r"regexp_extract(s.filename, '([^/.]*\.[^/.]*)[^/]*$', 1)"
    scan = (
        f"read_parquet([{', '.join(_sql_text(p) for p in paths)}], union_by_name = true, filename = true, "
        "file_row_number = true)"
    )
    query = (
        "select "
        + ", ".join(f"s.{_name(c)}" for c in columns if c != BRONZE_LOAD_ID)
        + f", {load_id} as {BRONZE_LOAD_ID}"
        + f" from {scan} as s"
    )
    hints: dict[str, Any] = {"columns": columns}
    if insert_only is not None:
        target = f"{_name(dataset.dataset_name)}.{_name(table)}"
        query += " " + _insert_only(insert_only, target, scan)
        hints["write_disposition"] = "append"
        # the query applied the dedup_sort hint already: an append table carries none (dlt would warn)
        for name, hint in insert_only.columns.items():
            if hint.get("dedup_sort"):
                columns[name] = {**columns.get(name, {"name": name}), "dedup_sort": None}
    # a raw query: dlt cannot resolve the columns of read_parquet() from its schema, the hints give them
    relation = dlt.Relation(dataset=dataset, query=query, _execute_raw_query=True)
    return dlt.mark.with_hints(relation, dlt.mark.make_hints(**hints))


def _insert_only(spec: TableSpec, target: str, scan: str) -> str:
    """The join and filter that keep a row ``s`` of ``scan`` for an insert-only load into ``target``: its primary
    key is not in the table yet, and no other row of the scan with the same key wins dlt's deduplication (the first
    by the ``dedup_sort`` column, a value before none; on a tie or without the hint, the later Bronze file and row).

    The same rows as dlt's merge (delete-insert) leaves when rows never change under their key, in one
    ``INSERT ... SELECT``: dlt's merge first copies the data into a staging table, which on DuckDB costs as much as
    the insert itself (DuckDB compresses every table write). Keys seen twice are found by hash; the rows that lose
    to another of their key (few) are named by file and row: an anti-join and a ``NOT IN``. (A correlated ``not
    exists`` makes DuckDB hold every scanned row to decorrelate it: 2M orders 5.2 s -> 10 s, or out of memory.)"""
    keys = [_name(k) for k in spec.primary_key]

    def same(a: str, b: str) -> str:
        return " and ".join(f"{a}.{k} = {b}.{k}" for k in keys)

    def hashed(alias: str) -> str:
        return f"hash({', '.join(f'{alias}.{k}' for k in keys)})"

    def row(alias: str) -> str:
        return f"({alias}.filename, {alias}.file_row_number)"

    wins = f"{row('w')} > {row('l')}"  # w takes the key from l
    columns = [*keys, "filename", "file_row_number"]
    sort = next(((n, str(h["dedup_sort"])) for n, h in spec.columns.items() if h.get("dedup_sort")), None)
    if sort is not None:
        v, beats = _name(sort[0]), ">" if sort[1] == "desc" else "<"
        wins = (
            f"(w.{v} {beats} l.{v} or (l.{v} is null and w.{v} is not null) "
            f"or (w.{v} is not distinct from l.{v} and {wins}))"
        )
        columns.append(v)
    twice = f"select {hashed('d')} from {scan} as d group by 1 having count(*) > 1"
    shared = f"select {', '.join(f'd.{c}' for c in columns)} from {scan} as d where {hashed('d')} in ({twice})"
    losers = (
        f"with shared as ({shared}) select l.filename, l.file_row_number "
        f"from shared as l join shared as w on {same('w', 'l')} and {wins}"
    )
    # the table's rows that may hold a scanned key: those whose key hash is among the scan's (found with a hash
    # table of 8-byte hashes; joining the table's key columns directly hashes every key the table holds)
    present = (
        f"select {', '.join(f't.{k}' for k in keys)} from {target} as t "
        f"where {hashed('t')} in (select {hashed('d')} from {scan} as d)"
    )
    # the losers (few, never NULL) are a NOT IN, whose hash table DuckDB always builds from them; from an anti join
    # its estimates may make it build the table from the scan instead, every column of every row (it did for a key
    # without dedup_sort: 1M orders, ~600 MB more and +0.4 s, with no loser at all)
    return f"anti join ({present}) as t on {same('t', 's')} where (s.filename, s.file_row_number) not in ({losers})"


def _runs(items: list[FileItemDict], in_place: bool) -> Iterator[tuple[bool, list[FileItemDict]]]:
    """Consecutive files grouped by whether the warehouse reads them itself (Parquet, ``in_place``) or Python does."""
    for direct, run in itertools.groupby(items, key=lambda i: in_place and i["file_name"].endswith(".parquet")):
        yield direct, list(run)


def clear_stale_dedup_sort(schema: Any, plugin: SourcePlugin) -> None:
    """A table has one ``dedup_sort`` column, the one its ``TableSpec`` names: a column that held the hint under an
    earlier version of the plugin loses it in the warehouse pipeline's stored dlt ``schema`` (else dlt refuses the
    next load: "multiple dedup_sort column hints")."""
    for name, spec in plugin.tables.items():
        wanted = {c for c, hint in spec.columns.items() if hint.get("dedup_sort")}
        if not wanted or name not in schema.tables:
            continue
        for column, hints in schema.tables[name]["columns"].items():
            if column not in wanted and hints.get("dedup_sort"):
                hints.pop("dedup_sort")


def _last_files(plugin: SourcePlugin, state: dict[str, Any]) -> dict[str, str]:
    """The last Bronze file loaded per table, from the warehouse pipeline's local ``state`` (the resource state)."""
    resources = state.get("sources", {}).get(plugin.name, {}).get("resources", {})
    return {table: r.get("last_file", "") for table, r in resources.items()}


def _next_files(root: str, table: str, done: str, max_files: int) -> tuple[list[FileItemDict], int]:
    """The Bronze files of ``table`` past ``done`` that the next load takes (up to ``max_files``), and how many
    wait for a later load."""
    todo = [f for f in _files(root, table) if f["relative_path"] > done]
    return todo[:max_files], max(0, len(todo) - max_files)


def has_unloaded_files(bronze_url: str, plugin: SourcePlugin, state: dict[str, Any]) -> bool:
    """Whether Bronze holds a file of ``plugin`` past the warehouse pipeline's cursor in its local ``state``
    (a pipeline without local state has not loaded anything it knows of: True)."""
    root = bronze_dataset_url(bronze_url, plugin)
    done = _last_files(plugin, state)
    return any(
        f["relative_path"] > done.get(table, "")
        for table in bronze_tables(bronze_url, plugin)
        for f in _files(root, table)
    )


def load_streams(bronze_url: str, plugin: SourcePlugin, state: dict[str, Any], max_files: int, replay: bool) -> bool:
    """Whether the next load of ``plugin``'s Bronze into a local DuckDB streams: its memory does not grow with its
    rows. Inserts stream (append and replace tables, and merge tables of immutable rows read in place: one
    ``INSERT ... SELECT`` holding 8-byte key hashes); dlt's merge of other tables stages the rows and ranks them
    with a window, which needs memory for all of them, so a load with more than SMALL_MERGE_ROWS such rows (counted
    in the Parquet footers; JSONL files cannot be counted) does not stream. ``state``: the warehouse pipeline's
    local state (``replay``: the load starts from the first file)."""
    root = bronze_dataset_url(bronze_url, plugin)
    done = {} if replay else _last_files(plugin, state)
    merged = 0
    for table in bronze_tables(bronze_url, plugin):
        spec = plugin.tables.get(table, TableSpec())
        files, _ = _next_files(root, table, done.get(table, ""), max_files)
        if spec.write_disposition != "merge" or not files:
            continue
        parquet = all(f["file_name"].endswith(".parquet") for f in files)
        if spec.immutable_rows and parquet and "://" not in root:
            continue
        if not parquet:
            return False
        merged += sum(_parquet_rows(f) for f in files)
    return merged <= SMALL_MERGE_ROWS


def _parquet_rows(item: FileItemDict) -> int:
    with item.open() as f:
        return pq.ParquetFile(f).metadata.num_rows


def bronze_table(
    root: str, table: str, spec: TableSpec, max_files: int, backlog: Backlog, dataset: Any = None
) -> DltResource:
    """Resource reading up to ``max_files`` Bronze files of one table that the warehouse has not loaded.

    ``dataset``: the warehouse's dlt dataset when it reads local Bronze Parquet files itself (see the module doc).
    """

    @dlt.resource(name=table, **spec.hints())
    def read() -> Iterator[Any]:
        state = dlt.current.resource_state()
        files, backlog.pending[table] = _next_files(root, table, state.get("last_file", ""), max_files)
        runs = list(_runs(files, dataset is not None))
        # one way for the whole load: a table's write disposition is one per load
        insert_only = spec if spec.immutable_rows and all(direct for direct, _ in runs) else None
        for direct, run in runs:
            if direct:
                yield parquet_in_place(dataset, root, run, table, insert_only)
            else:
                for item in run:
                    yield from read_bronze_file(item)
            state["last_file"] = run[-1]["relative_path"]

    if spec.partition or spec.cluster:  # BigQuery table layout; a hint other warehouses ignore
        bigquery_adapter(read, partition=spec.partition, cluster=list(spec.cluster) or None)
    return read


def bronze_source(bronze_url: str, plugin: SourcePlugin, max_files: int, backlog: Backlog, dataset: Any = None) -> Any:
    """A dlt source over the Bronze files of ``plugin`` that the warehouse has not seen yet. ``dataset``: the
    warehouse's dlt dataset, when it reads Bronze Parquet files itself (a local DuckDB file, a local Bronze folder)."""
    root = bronze_dataset_url(bronze_url, plugin)
    if "://" in root:
        dataset = None

    # the plugin's schema contract: a value that does not fit its column's type stops the load (never a variant)
    @dlt.source(name=plugin.name, schema_contract=dict(plugin.schema_contract))  # type: ignore[arg-type]
    def bronze() -> list[DltResource]:
        return [
            bronze_table(root, t, plugin.tables.get(t, TableSpec()), max_files, backlog, dataset)
            for t in bronze_tables(bronze_url, plugin)
        ]

    return bronze()
