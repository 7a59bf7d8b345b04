"""CRM source: orders and contacts CSV exports dropped into a landing location.

The landing location is any fsspec URL dlt's filesystem source understands (a local folder by default,
``gs://bucket/prefix`` in production). Files are picked up incrementally by modification time, parsed
column-wise, validated, and split into good rows (``orders``, ``contacts``) and quarantined rows
(``quarantine``: file, line, raw text, reason). ``files`` records per file how many data rows were read,
loaded and quarantined, so the two always reconcile.

The source only yields rows (append). The keys and write dispositions the warehouse applies (merge on
order_id / contact_id, latest file wins) are the plugin's table specs in ``sources.crm.tables``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.storages.fsspec_filesystem import fsspec_filesystem
from dlt.sources import DltResource
from dlt.sources.filesystem import FileItemDict, filesystem

from sources.crm.helpers import process_file
from sources.crm.settings import CONTACT_RULES, CONTACTS_GLOB, ORDER_RULES, ORDERS_GLOB
from sources.crm.validation import TableRules


@dlt.source(name="crm", max_table_nesting=0)
def crm(
    landing_url: str = dlt.config.value,
    orders_glob: str = ORDERS_GLOB,
    contacts_glob: str = CONTACTS_GLOB,
    encoding: str = "auto",
    credentials: Any = None,
) -> list[DltResource]:
    """Orders and contacts from CSV exports under ``landing_url``.

    Args:
        landing_url: folder or bucket URL holding the exports (``data/landing/crm``, ``gs://b/crm`` ...).
        orders_glob / contacts_glob: file name patterns of each export.
        encoding: ``auto`` (UTF-8, with or without BOM; legacy 8-bit files detected), or a fixed one of
            ``utf-8``, ``windows-1252``, ``latin-1``.
        credentials: fsspec credentials for remote landing locations (None for local folders and ADC).
    """
    _check_landing(landing_url, credentials)
    return [
        _export(landing_url, "orders", orders_glob, TableRules(**ORDER_RULES), encoding, credentials),
        _export(landing_url, "contacts", contacts_glob, TableRules(**CONTACT_RULES), encoding, credentials),
    ]


class LandingLocationError(FileNotFoundError):
    """The configured landing location does not exist."""


def _check_landing(landing_url: str, credentials: Any) -> None:
    protocol = landing_url.split("://", 1)[0] if "://" in landing_url else "file"
    fs = fsspec_filesystem(protocol, credentials)[0]
    if not fs.exists(landing_url.split("://", 1)[-1] if protocol != "file" else landing_url):
        raise LandingLocationError(
            f"the CRM landing location '{landing_url}' does not exist: create it and drop the orders*/contacts* "
            "CSV exports there, or point sources.crm.landing_url (env SOURCES__CRM__LANDING_URL) elsewhere"
        )


def _export(landing_url: str, table: str, glob: str, rules: TableRules, encoding: str, credentials: Any) -> DltResource:
    kwargs: dict[str, Any] = {"bucket_url": landing_url, "file_glob": glob}
    if credentials is not None:
        kwargs["credentials"] = credentials
    files = filesystem(**kwargs, incremental=dlt.sources.incremental("modification_date", row_order="asc")).with_name(
        f"{table}_files"
    )

    @dlt.transformer(name=table, write_disposition="append")
    def parse(page: list[FileItemDict]) -> Iterator[Any]:
        for item in sorted(page, key=lambda f: (f["modification_date"], f["file_name"])):
            yield from process_file(item, table, rules, encoding)

    return files | parse
