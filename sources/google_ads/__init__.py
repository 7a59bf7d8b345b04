"""Google Ads source on the official ``google-ads`` client (gRPC; GAQL through ``GoogleAdsService.SearchStream``).

Resources: ``customers`` (currency, time zone), ``campaigns``, ``ad_groups``, ``ads`` (every status, merged on
their ids) and daily metrics at campaign x day (``campaign_stats_daily``) and ad group x day
(``ad_group_stats_daily``): cost (``cost_micros`` and converted into the account currency), impressions, clicks,
conversions, conversions_value, all_conversions.

Accounts: ``customer_ids``, or every (non-manager, enabled) client account under the manager ``login_customer_id``
(``customer_client``). Conversions restate for weeks: every run re-fetches the last ``lookback_days`` days up to
today in each account's time zone, from a cursor per account (resource state, committed with the load); the
warehouse merge replaces whole account-days (merge key ``customer_id, date``).

Errors: see ``sources/google_ads/api.py``. An account that cannot be read (cancelled, or a permanent error of its
query) is reported in ``partial_failures`` (and as a run warning) and keeps its cursor; the others load.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dlt
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource

from sources.clock import Clock
from sources.google_ads.api import AccountFailure, RetryBudget, Streamer, make_client
from sources.google_ads.gaql import between, digits, fetch_window, from_micros, query, to_row
from sources.google_ads.settings import (
    AD_FIELDS,
    AD_GROUP_FIELDS,
    AD_GROUP_STATS_FIELDS,
    CAMPAIGN_FIELDS,
    CAMPAIGN_STATS_FIELDS,
    CUSTOMER_CLIENT_FIELDS,
    CUSTOMER_FIELDS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_OAUTH_URL,
    DEFAULT_RETRY_BUDGET_S,
    GoogleAdsConfiguration,
)


class Accounts:
    """The run's customer ids (given, or the manager's client accounts) and each one's currency and time zone."""

    def __init__(self, streamer: Streamer, customer_ids: list[str] | None, login_customer_id: str | None) -> None:
        self.streamer = streamer
        self.login_customer_id = login_customer_id
        self._given = [digits(c) for c in customer_ids or ()]
        self._ids: list[str] | None = None
        self._info: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, AccountFailure] = {}
        self._reported: set[str] = set()

    @property
    def ids(self) -> list[str]:
        if self._ids is None:
            if self._given:
                self._ids = self._given
            elif self.login_customer_id:
                gaql = query(
                    CUSTOMER_CLIENT_FIELDS,
                    "customer_client",
                    "customer_client.manager = FALSE AND customer_client.status = 'ENABLED'",
                )
                rows = self.streamer.rows(self.login_customer_id, gaql)
                self._ids = sorted({to_row(r, CUSTOMER_CLIENT_FIELDS)["client_customer_id"] for r in rows})
            else:
                raise ValueError(
                    "google_ads: set sources.google_ads.customer_ids (one or a list) or "
                    "sources.google_ads.login_customer_id (a manager account: its client accounts are read)"
                )
        return self._ids

    def readable(self) -> list[str]:
        return [c for c in self.ids if c not in self.failed and self.info(c) is not None]

    def info(self, customer_id: str) -> dict[str, Any] | None:
        if customer_id not in self._info and customer_id not in self.failed:
            rows = self.run(customer_id, query(CUSTOMER_FIELDS, "customer"))
            self._info[customer_id] = to_row(rows[0], CUSTOMER_FIELDS) if rows else None  # type: ignore[index]
        return self._info.get(customer_id)

    def run(self, customer_id: str, gaql: str) -> list[Any] | None:
        """The rows of a query for one account; None (and the account marked failed) if it cannot be read."""
        try:
            return self.streamer.rows(customer_id, gaql)
        except AccountFailure as failure:
            self.failed[customer_id] = failure
            return None

    def unreported(self, at: datetime) -> list[dict[str, Any]]:
        """``partial_failures`` rows for the accounts that failed since the last call."""
        rows = []
        for customer_id, failure in sorted(self.failed.items()):
            if customer_id not in self._reported:
                self._reported.add(customer_id)
                rows.append({
                    "failed_at": at,
                    "customer_id": customer_id,
                    "error_code": failure.code,
                    "request_id": failure.request_id,
                    "message": f"google_ads customer {customer_id} was not loaded in this run: {failure}",
                })  # fmt: skip
        return rows

    def today(self, customer_id: str, override: str | None) -> date:
        if override:
            return date.fromisoformat(override)
        info = self.info(customer_id) or {}
        return datetime.now(ZoneInfo(info.get("time_zone") or "UTC")).date()


@dlt.source(name="google_ads", max_table_nesting=0, spec=GoogleAdsConfiguration)
def google_ads(
    developer_token: TSecretStrValue = dlt.secrets.value,
    client_id: str = dlt.config.value,
    client_secret: TSecretStrValue = dlt.secrets.value,
    refresh_token: TSecretStrValue = dlt.secrets.value,
    login_customer_id: str | None = None,
    customer_ids: str | list[str] | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    start_date: str | None = None,
    endpoint: str | None = None,
    oauth_url: str = DEFAULT_OAUTH_URL,
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S,
    today: str | None = None,
    clock: Any = None,
) -> list[DltResource]:
    """Google Ads accounts, campaigns, ad groups, ads and daily metrics.

    Args:
        developer_token: the manager account's API token (secret).
        client_id / client_secret / refresh_token: installed-app OAuth credentials (secret and refresh token secret).
        login_customer_id: the manager (MCC) account the customers are reached through (sent as login-customer-id).
        customer_ids: one customer id or a list (dashes allowed); none: every client account of login_customer_id.
        lookback_days: days re-fetched on every run, up to today in the account's time zone (conversions restate).
        start_date: first day fetched on an account's first run (ISO date); default: the last lookback_days days.
        endpoint: API host[:port] (an emulator offline); oauth_url: the OAuth token endpoint.
        retry_budget_s: total seconds the run may spend waiting on quota and transient errors.
        today: overrides "today" (tests, reproducible runs); clock: injectable clock (tests).
    """
    clock = clock or Clock()
    login = digits(login_customer_id) if login_customer_id else None
    client = make_client(developer_token, client_id, client_secret, refresh_token, login, endpoint, oauth_url)
    streamer = Streamer(client, RetryBudget(retry_budget_s, clock))
    accounts = Accounts(streamer, customer_ids, login)
    fetched_at = datetime.now(UTC)

    def customers() -> Iterator[list[dict[str, Any]]]:
        yield [info for c in accounts.readable() if (info := accounts.info(c))]

    def entity(resource: str, fields: tuple[tuple[str, str], ...], money: str | None = None) -> Any:
        def rows() -> Iterator[list[dict[str, Any]]]:
            for customer_id in accounts.readable():
                result = accounts.run(customer_id, query(fields, resource))
                if not result:
                    continue
                page = []
                for r in result:
                    row = to_row(r, fields)
                    row["customer_id"] = customer_id
                    if money:
                        row[money.removesuffix("_micros")] = from_micros(row[money])
                    page.append(row)
                yield page

        return rows

    def stats(table: str, resource: str, fields: tuple[tuple[str, str], ...]) -> Any:
        def rows() -> Iterator[list[dict[str, Any]]]:
            state = dlt.current.resource_state().setdefault("customers", {})
            for customer_id in accounts.readable():
                cursor = state.get(customer_id, {})
                since, until = fetch_window(cursor.get("last_date"), accounts.today(customer_id, today),
                                            lookback_days, start_date)  # fmt: skip
                result = accounts.run(customer_id, query(fields, resource, between(since, until)))
                if result is None:
                    continue  # reported in partial_failures; the cursor stays
                currency = (accounts.info(customer_id) or {}).get("currency_code")
                page = []
                for r in result:
                    row = to_row(r, fields)
                    row["customer_id"] = customer_id
                    row["currency_code"] = currency
                    row["cost"] = from_micros(row["cost_micros"])
                    row["_fetched_at"] = fetched_at
                    page.append(row)
                if page:
                    yield page
                state.setdefault(customer_id, {})["last_date"] = until.isoformat()  # committed with the load

        return rows

    def reported(rows: Any) -> Any:
        def items() -> Iterator[Any]:
            """The resource's rows, then ``partial_failures`` rows for the accounts that failed meanwhile."""
            yield from rows()
            failures = accounts.unreported(fetched_at)
            if failures:
                yield dlt.mark.with_table_name(failures, "partial_failures")

        return items

    resources = [
        ("customers", customers),
        ("campaigns", entity("campaign", CAMPAIGN_FIELDS, "budget_amount_micros")),
        ("ad_groups", entity("ad_group", AD_GROUP_FIELDS)),
        ("ads", entity("ad_group_ad", AD_FIELDS)),
        ("campaign_stats_daily", stats("campaign_stats_daily", "campaign", CAMPAIGN_STATS_FIELDS)),
        ("ad_group_stats_daily", stats("ad_group_stats_daily", "ad_group", AD_GROUP_STATS_FIELDS)),
    ]
    # keys, merge keys and column types (tables.py) apply when Bronze is loaded into the warehouse, as for every plugin
    return [dlt.resource(reported(fn), name=name, write_disposition="append") for name, fn in resources]
