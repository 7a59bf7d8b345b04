"""Bronze: the immutable raw files every source run lands first, and reading them back.

Layout (dlt filesystem destination, default layout)::

    <bronze_url>/<source>/<table>/<load_id>.<file_id>.<parquet|jsonl.gz>

A Bronze file is written once and never changed. The warehouse raw dataset is loaded from these files only,
which is what makes ``mdw replay <source>`` possible without calling any API.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import dlt
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.sources import DltResource
from dlt.sources.filesystem import FileItemDict, filesystem

from sources.registry import SourcePlugin, TableSpec

BRONZE_LOAD_ID = "_bronze_load_id"


def bronze_dataset_url(bronze_url: str, plugin: SourcePlugin) -> str:
    return f"{bronze_url.rstrip('/')}/{plugin.name}"


def bronze_tables(bronze_url: str, plugin: SourcePlugin) -> list[str]:
    """Data tables present in Bronze for this source (dlt's own ``_dlt_*`` tables excluded)."""
    fs, root = fsspec.core.url_to_fs(bronze_dataset_url(bronze_url, plugin))
    if not fs.exists(root):
        return []
    names = {p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False) if fs.isdir(p)}
    return sorted(n for n in names if not n.startswith("_dlt"))


def _read_file(item: FileItemDict) -> Iterator[Any]:
    name = item["file_name"]
    load_id = ".".join(name.split(".", 2)[:2])
    if name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(item.read_bytes()))
        if "_dlt_load_id" in table.column_names:
            table = table.drop_columns(["_dlt_load_id"])
        if "_dlt_id" in table.column_names:
            table = table.drop_columns(["_dlt_id"])
        yield table.append_column(BRONZE_LOAD_ID, pa.array([load_id] * table.num_rows, pa.string()))
    elif name.endswith((".jsonl", ".jsonl.gz")):
        raw = item.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        rows = []
        for line in raw.splitlines():
            if line.strip():
                row = json.loads(line)
                row.pop("_dlt_load_id", None)
                row.pop("_dlt_id", None)
                row[BRONZE_LOAD_ID] = load_id
                rows.append(row)
        yield rows
    else:
        raise ValueError(f"unexpected file in Bronze: {item['file_url']}")


def bronze_table(bronze_url: str, plugin: SourcePlugin, table: str) -> DltResource:
    """Resource reading the Bronze files of one table not yet loaded, in load order."""
    spec = plugin.tables.get(table, TableSpec())
    files = filesystem(
        bucket_url=bronze_dataset_url(bronze_url, plugin),
        file_glob=f"{table}/*",
        incremental=dlt.sources.incremental("relative_path", row_order="asc"),
    ).with_name(f"bronze_{table}_files")

    @dlt.transformer(name=table, **spec.hints())
    def read(page: list[FileItemDict]) -> Iterator[Any]:
        for item in sorted(page, key=lambda f: f["relative_path"]):
            yield from _read_file(item)

    return files | read


def bronze_source(bronze_url: str, plugin: SourcePlugin) -> Any:
    """A dlt source over everything in Bronze for ``plugin`` that the warehouse has not seen yet."""

    @dlt.source(name=plugin.name)
    def bronze() -> list[DltResource]:
        return [bronze_table(bronze_url, plugin, t) for t in bronze_tables(bronze_url, plugin)]

    return bronze()
