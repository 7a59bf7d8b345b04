"""Column contract of the CRM CSV exports and of the raw_crm warehouse tables."""

ORDER_COLUMNS = (
    "order_id",
    "contact_id",
    "user_pseudo_id",
    "order_ts",
    "order_date",
    "amount",
    "currency",
    "items",
    "campaign_id",
    "channel",
    "utm_source",
    "utm_medium",
    "transaction_id",
    "is_repeat",
    "payment_method",
)

CONTACT_COLUMNS = (
    "contact_id",
    "email",
    "created_at",
    "country",
    "phone",
    "email_opt_in",
)

# file name patterns in the landing location (relative globs, dlt filesystem source syntax)
ORDERS_GLOB = "orders*.csv"
CONTACTS_GLOB = "contacts*.csv"

# how each column is parsed and checked (sources.crm.validation); empty optional values become NULL
ORDER_RULES = dict(
    columns={
        "order_id": "string",
        "contact_id": "string",
        "user_pseudo_id": "string",
        "order_ts": "timestamp",
        "order_date": "date",
        "amount": "decimal",
        "currency": "currency",
        "items": "int",
        "campaign_id": "string",
        "channel": "string",
        "utm_source": "string",
        "utm_medium": "string",
        "transaction_id": "string",
        "is_repeat": "bool",
        "payment_method": "string",
    },
    key="order_id",
    required=("order_ts", "amount", "currency"),
    non_negative=("amount",),
)
CONTACT_RULES = dict(
    columns={
        "contact_id": "string",
        "email": "string",
        "created_at": "timestamp",
        "country": "string",
        "phone": "string",
        "email_opt_in": "bool",
    },
    key="contact_id",
)

QUARANTINE_TABLE = "quarantine"
FILES_TABLE = "files"
