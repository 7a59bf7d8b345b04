"""Keys and write dispositions of the CRM tables in the warehouse raw dataset ``raw_crm``.

The order and contact tables keep every delivered version of every row once (the key includes the file
version), so the rule "newest file version wins, then the later line" does not depend on the order in which
files arrived; Silver applies it (by ``_source_modified_at``, ``_source_file``, ``_source_line``), and carries
forward values of columns a file did not deliver (``_columns_absent``).
"""

from marketing_dwh.registry import TableSpec

# dedup within one load: the later line of the same file version wins. Columns Silver reads are declared, so
# they exist even when no row has a value yet (dlt creates an undeclared column only on its first non-null).
_LATEST_ROW = {
    "_source_line": {"dedup_sort": "desc"},
    "_columns_absent": {"data_type": "text", "nullable": True},
}
# a file version: its path and the identity the landing reader tells versions by (size, modification time,
# generation), so a file rewritten under the same time is a version of its own, and a re-read of the same one adds
# nothing (the rows of one file version never change: immutable rows)
_FILE_VERSION = ("_source_file", "_source_modified_at", "_source_identity")

TABLES: dict[str, TableSpec] = {
    "orders": TableSpec(
        write_disposition="merge",
        primary_key=("order_id", "line_kind", *_FILE_VERSION),
        entity_key=("order_id", "line_kind"),
        columns={**_LATEST_ROW, "line_kind": {"data_type": "text", "nullable": False}},
        description="every delivered version of every order line (order or refund), once per file version",
        immutable_rows=True,
        partition="order_date",
        cluster=("order_id",),
    ),
    "contacts": TableSpec(
        write_disposition="merge",
        primary_key=("contact_id", *_FILE_VERSION),
        entity_key=("contact_id",),
        columns=_LATEST_ROW,
        description="every delivered version of every contact, once per file version",
        immutable_rows=True,
        cluster=("contact_id",),
    ),
    "quarantine": TableSpec(
        write_disposition="merge",
        primary_key=("table_name", "source_file", "source_modified_at", "line_number"),
        description="rejected input: file, first line, lines spanned, raw text and reason (line 0: the whole file)",
    ),
    "files": TableSpec(
        write_disposition="merge",
        primary_key=("file_url", "file_identity"),
        description="the manifest: one row per file version read, with its identity, format and row counts",
    ),
}
