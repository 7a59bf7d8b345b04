"""Keys and write dispositions of the CRM tables in the warehouse raw dataset ``raw_crm``."""

from sources.registry import TableSpec

# dedup within one load: the latest file wins, then the later line of that file
_LATEST_ROW = {"_row_version": {"dedup_sort": "desc", "data_type": "bigint"}}

TABLES: dict[str, TableSpec] = {
    "orders": TableSpec(
        write_disposition="merge",
        primary_key=("order_id",),
        columns=_LATEST_ROW,
        description="one row per order_id, the latest delivered version",
        partition="order_date",
        cluster=("order_id",),
    ),
    "contacts": TableSpec(
        write_disposition="merge",
        primary_key=("contact_id",),
        columns=_LATEST_ROW,
        description="one row per contact_id, the latest delivered version",
        cluster=("contact_id",),
    ),
    "quarantine": TableSpec(
        write_disposition="merge",
        primary_key=("table_name", "source_file", "source_modified_at", "line_number"),
        description="rejected input rows: file, line, raw text and reason",
    ),
    "files": TableSpec(
        write_disposition="merge",
        primary_key=("file_url", "modified_at"),
        description="one row per processed file version: rows read = rows loaded + rows quarantined",
    ),
}
