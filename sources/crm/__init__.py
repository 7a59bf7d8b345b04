"""CRM source: orders and contacts CSV exports dropped into a landing location.

The landing location is any fsspec URL (a local folder by default, ``gs://bucket/prefix`` in production).
A file is read when its identity (path, size, modification time, generation) is new (``landing``); it is
parsed block by block (``csv_reader``), validated (``validation``, ``amounts``), and split into good rows
(``orders``, ``contacts``) and quarantined rows (``quarantine``: file, line, raw text, reason). ``files``
records every file version read: its identity, format, and how many rows were read, loaded and quarantined.

The source only yields rows (append). The keys and write dispositions the warehouse applies are the plugin's
table specs in ``sources.crm.tables``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.common.configuration.specs import (
    GcpOAuthCredentialsWithoutDefaults,
    GcpServiceAccountCredentialsWithoutDefaults,
)
from dlt.sources import DltResource

from sources.crm.helpers import emit_file, read_ahead, read_file, read_workers
from sources.crm.landing import LandingFile, landing_fs, list_files, sample_names
from sources.crm.settings import (
    CONTACT_RULES,
    CONTACTS_GLOBS,
    ORDER_RULES,
    ORDERS_GLOBS,
    CrmConfiguration,
    CrmSettings,
    globs,
)
from sources.crm.validation import TableRules

log = logging.getLogger("mdw.crm")


@dlt.source(name="crm", max_table_nesting=0, spec=CrmConfiguration)
def crm(
    landing_url: str = dlt.config.value,
    orders_glob: str | list[str] = ORDERS_GLOBS,
    contacts_glob: str | list[str] = CONTACTS_GLOBS,
    encoding: str = "auto",
    delimiter: str = "auto",
    decimal: str = "auto",
    max_record_lines: int = 100,
    credentials: GcpServiceAccountCredentialsWithoutDefaults | GcpOAuthCredentialsWithoutDefaults | None = None,
) -> list[DltResource]:
    """Orders and contacts from CSV exports under ``landing_url``.

    Args:
        landing_url: folder or bucket URL holding the exports (``data/landing/crm``, ``gs://b/crm`` ...).
        orders_glob / contacts_glob: relative glob pattern(s) of each export (``**/`` matches sub-folders).
        encoding: ``auto`` (UTF-8 with or without BOM, UTF-16 with BOM, legacy 8-bit detected) or a fixed one
            of ``utf-8``, ``windows-1252``, ``latin-1``.
        delimiter: ``auto`` (sniffed from the header) or one of ``,`` ``;`` tab ``|``.
        decimal: the decimal separator of amounts: ``auto`` (decided per file from its amounts), ``.`` or ``,``.
        max_record_lines: a record spanning more physical lines than this is an unbalanced quote.
        credentials: credentials of a gs:// landing location (a secret: dlt's Google credentials, e.g.
            ``[sources.crm.credentials]`` with a GCS service-account key); None for local folders and ADC.
    """
    settings = CrmSettings(
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        max_record_lines=max_record_lines,
        orders_glob=globs(orders_glob),
        contacts_glob=globs(contacts_glob),
    )
    fs = landing_fs(landing_url, credentials)
    _check_landing(fs, landing_url)
    orders = list_files(fs, landing_url, list(settings.orders_glob))
    contacts = list_files(fs, landing_url, list(settings.contacts_glob))
    if not orders and not contacts:
        _warn_nothing_matches(fs, landing_url, settings)
    return [
        _export(fs, "orders", orders, TableRules(**ORDER_RULES), settings),
        _export(fs, "contacts", contacts, TableRules(**CONTACT_RULES), settings),
    ]


class LandingLocationError(FileNotFoundError):
    """The configured landing location does not exist."""


def _check_landing(fs: Any, landing_url: str) -> None:
    path = landing_url.split("://", 1)[-1] if "://" in landing_url else landing_url
    if not fs.exists(path):
        raise LandingLocationError(
            f"the CRM landing location '{landing_url}' does not exist: create it and drop the orders*/contacts* "
            "CSV exports there, or point sources.crm.landing_url (env SOURCES__CRM__LANDING_URL) elsewhere"
        )


def _export(fs: Any, table: str, files: list[LandingFile], rules: TableRules, settings: CrmSettings) -> DltResource:
    @dlt.resource(name=table, write_disposition="append")
    def read() -> Iterator[Any]:
        # identity of every file version read, by relative path (committed with the Bronze load)
        read_before: dict[str, str] = dlt.current.resource_state().setdefault("read", {})
        new = [f for f in sorted(files, key=_version_order) if read_before.get(f.relative_path) != f.identity]
        for done in read_ahead(new, lambda f: read_file(f, fs, table, rules, settings), read_workers(new)):
            yield from emit_file(done, fs, rules)
            read_before[done.f.relative_path] = done.f.identity
        listed = {f.relative_path for f in files}
        for gone in [p for p in read_before if p not in listed]:  # keep the state as small as the folder
            del read_before[gone]

    return read


def _version_order(f: LandingFile) -> tuple[int, str]:
    return f.modified_us, f.url


def _warn_nothing_matches(fs: Any, landing_url: str, settings: CrmSettings) -> None:
    count, names = sample_names(fs, landing_url)
    if count:
        log.warning(
            "no export matches the globs %s in %s, which holds %d file(s), e.g. %s: "
            "check sources.crm.orders_glob / contacts_glob",
            ", ".join([*settings.orders_glob, *settings.contacts_glob]),
            landing_url,
            count,
            ", ".join(names),
        )
