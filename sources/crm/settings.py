"""Column contract of the CRM CSV exports, the raw_crm warehouse tables, and the source's settings (checked
before any file is read)."""

from dataclasses import dataclass
from typing import Any, ClassVar

from dlt.common.configuration import configspec
from dlt.common.configuration.specs import (
    GcpOAuthCredentialsWithoutDefaults,
    GcpServiceAccountCredentialsWithoutDefaults,
)

from marketing_dwh.settings import SettingError, SourceConfiguration

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

# file name patterns in the landing location (relative globs; `**/` also matches the top level)
ORDERS_GLOBS = ("**/orders*.csv", "**/orders*.csv.gz")
CONTACTS_GLOBS = ("**/contacts*.csv", "**/contacts*.csv.gz")

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
    refund_column="amount",
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


ENCODINGS = ("auto", "utf-8", "windows-1252", "latin-1")
DELIMITERS = ("auto", ",", ";", "\t", "|")
DECIMALS = ("auto", ".", ",")


class CrmSettingError(SettingError):
    """A CRM setting has a value the source cannot use: nothing is read until it is fixed."""


@dataclass(frozen=True)
class CrmSettings:
    """The CRM source's settings, checked before any file is read (``sources.crm.*``)."""

    encoding: str = "auto"
    delimiter: str = "auto"
    decimal: str = "auto"
    max_record_lines: int = 100
    orders_glob: tuple[str, ...] = ORDERS_GLOBS
    contacts_glob: tuple[str, ...] = CONTACTS_GLOBS

    def __post_init__(self) -> None:
        _one_of("encoding", self.encoding, ENCODINGS)
        _one_of("delimiter", self.delimiter, DELIMITERS)
        _one_of("decimal", self.decimal, DECIMALS)
        lines = self.max_record_lines
        if isinstance(lines, bool) or not isinstance(lines, int) or lines < 2:
            raise CrmSettingError("sources.crm.max_record_lines", lines, "use a whole number >= 2")
        for name in ("orders_glob", "contacts_glob"):
            globs = getattr(self, name)
            bad = [g for g in globs if not isinstance(g, str) or not g.strip() or g.startswith("/") or "://" in g]
            if not globs or bad or any(".." in g.split("/") for g in globs):
                raise CrmSettingError(
                    f"sources.crm.{name}",
                    list(globs),
                    "use one or more relative glob patterns under the landing location, "
                    "e.g. ['**/orders*.csv', '**/orders*.csv.gz']",
                )


def globs(value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A glob setting as a tuple (a single pattern may be given as a string)."""
    return (value,) if isinstance(value, str) else tuple(value)


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise CrmSettingError(f"sources.crm.{name}", value, "use one of " + ", ".join(repr(a) for a in allowed))


@configspec
class CrmConfiguration(SourceConfiguration):
    """The CRM source's settings (``sources.crm.*``, or its arguments), checked before any file is read."""

    SECTION: ClassVar[str] = "sources.crm"
    ONE_OR_MANY: ClassVar[tuple[str, ...]] = ("orders_glob", "contacts_glob")

    landing_url: str = None
    orders_glob: Any = ORDERS_GLOBS  # one pattern or a list
    contacts_glob: Any = CONTACTS_GLOBS
    encoding: str = "auto"
    delimiter: str = "auto"
    decimal: str = "auto"
    max_record_lines: int = 100
    # a secret (dlt never traces or logs it): a Google key or OAuth credentials for a gs:// landing location;
    # without them a bucket is read with the environment's credentials (ADC), looked up only for a bucket
    credentials: GcpServiceAccountCredentialsWithoutDefaults | GcpOAuthCredentialsWithoutDefaults | None = None

    def check(self) -> None:
        CrmSettings(
            encoding=self.encoding,
            delimiter=self.delimiter,
            decimal=self.decimal,
            max_record_lines=self.max_record_lines,
            orders_glob=globs(self.orders_glob),
            contacts_glob=globs(self.contacts_glob),
        )
