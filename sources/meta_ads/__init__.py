"""Meta (Facebook) Ads source on the facebook-business SDK.

Resources: ``ad_accounts``, ``campaigns``, ``adsets``, ``ads``, ``ad_creatives`` (all statuses, merged on id)
and daily ``insights`` at the configured level through asynchronous report runs, with ``actions`` /
``action_values`` kept raw and unnested into ``insights_actions`` (one row per insight row, kind, action type
and attribution window). Optional breakdown reports land in ``insights_<breakdown>``.

Incremental: a cursor per account (resource state, committed with the load). Every run re-fetches the last
``attribution_days`` days up to today in the account's time zone; the warehouse merge replaces whole
account-days (merge key), so restated days are replaced and vanished rows disappear. ``since``/``until`` run
an explicit backfill without moving the cursor. Never earlier than the API's 37-month limit. Regular runs ask
for ``slice_days`` (1) days per report run; an account's first run and a backfill, long ranges, for
``backfill_slice_days`` (7): each report run costs a submission, polls and a result request, and its rows stay
daily (``time_increment=1``).

A row with a value that does not fit its column's declared type (``tables.py``; e.g. ``"spend": "1,5"``, a
decimal comma where the API sends ``"1.5"``) is not loaded: it goes to ``quarantine`` with the reason and the
row as sent, so the number never silently becomes NULL.

Retrying has one time budget per run (``retry_budget_s``). When it runs out, the completed account-days are
kept, the cursor of an account with missing days stops before its first missing day, and a row in
``run_stops`` names the account, the last error and what to do (shown as a warning in the run summary).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource
from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign
from facebook_business.adobjects.user import User

from sources.clock import Clock
from sources.meta_ads.api import GovernedApi, make_api
from sources.meta_ads.insights import InsightsFetcher, InsightsSettings, JobSpec, all_statuses, day_slices
from sources.meta_ads.retry import RetryBudget
from sources.meta_ads.settings import (
    ACCOUNT_FIELDS,
    AD_FIELDS,
    ADSET_FIELDS,
    BREAKDOWNS,
    CAMPAIGN_FIELDS,
    CREATIVE_FIELDS,
    DEFAULT_API_VERSION,
    DEFAULT_ATTRIBUTION_DAYS,
    DEFAULT_BACKFILL_SLICE_DAYS,
    DEFAULT_GRAPH_URL,
    DEFAULT_LEVEL,
    DEFAULT_RETRY_BUDGET_S,
    DEFAULT_WINDOWS,
    INSIGHT_ID_FIELDS,
    INSIGHT_METRIC_FIELDS,
    INSIGHT_NAME_FIELDS,
    MAX_HISTORY_MONTHS,
    MetaAdsConfiguration,
)
from sources.meta_ads.tables import QUARANTINE_TABLE, TABLES
from sources.meta_ads.usage import UsageGovernor


def history_floor(today: date) -> date:
    """The earliest day the API still serves (37 months back)."""
    months = today.year * 12 + today.month - 1 - MAX_HISTORY_MONTHS
    return date(months // 12, months % 12 + 1, 1) + timedelta(days=31)  # stay clear of the boundary


def fetch_window(
    last_date: str | None, today: date, attribution_days: int, initial_days: int, start_date: str | None = None
) -> tuple[date, date]:
    """Days to (re-)fetch: from the cursor minus the attribution window; on a first run from ``start_date``
    or the last ``initial_days`` days. Never earlier than the API's history limit."""
    if last_date:
        since = date.fromisoformat(last_date) - timedelta(days=attribution_days - 1)
    elif start_date:
        since = date.fromisoformat(start_date)
    else:
        since = today - timedelta(days=initial_days - 1)
    return max(since, history_floor(today)), today


def _act(account_id: str) -> str:
    return str(account_id).removeprefix("act_")


class _Accounts:
    """Account ids of this run and their time zones (read once)."""

    def __init__(self, api: GovernedApi, account_ids: Sequence[str] | None) -> None:
        self.api = api
        if account_ids:
            self.ids = [_act(a) for a in account_ids]
        else:
            self.ids = [_act(a["account_id"]) for a in User("me", api=api).get_ad_accounts(fields=["account_id"])]
        self._info: dict[str, dict[str, Any]] = {}

    def info(self, account_id: str) -> dict[str, Any]:
        if account_id not in self._info:
            node = AdAccount(f"act_{account_id}", api=self.api).api_get(fields=list(ACCOUNT_FIELDS))
            self._info[account_id] = node.export_all_data()
        return self._info[account_id]

    def today(self, account_id: str, override: str | None) -> date:
        if override:
            return date.fromisoformat(override)
        zone = self.info(account_id).get("timezone_name") or "UTC"
        return datetime.now(ZoneInfo(zone)).date()


@dlt.source(name="meta_ads", max_table_nesting=0, spec=MetaAdsConfiguration)
def meta_ads(
    access_token: str = dlt.secrets.value,
    account_ids: str | list[str] | None = None,
    app_id: str | None = None,
    app_secret: TSecretStrValue | None = None,
    api_version: str = DEFAULT_API_VERSION,
    graph_url: str = DEFAULT_GRAPH_URL,
    level: str = DEFAULT_LEVEL,
    attribution_windows: str | list[str] | None = None,
    attribution_days: int = DEFAULT_ATTRIBUTION_DAYS,
    initial_days: int = 90,
    start_date: str | None = None,
    breakdowns: str | list[str] | None = None,
    max_concurrent_jobs: int = 4,
    slice_days: int = 1,
    backfill_slice_days: int = DEFAULT_BACKFILL_SLICE_DAYS,
    page_size: int = 500,
    poll_interval_s: float = 2.0,
    job_timeout_s: float = 900.0,
    retry_budget_s: float = DEFAULT_RETRY_BUDGET_S,
    since: str | None = None,
    until: str | None = None,
    today: str | None = None,
    clock: Any = None,
) -> list[DltResource]:
    """Meta Ads accounts, objects and daily insights.

    Args:
        access_token: a long-lived user or system-user token (secret).
        account_ids: one ad account id or a list (with or without ``act_``); all accounts of the token when empty.
        app_id / app_secret: optional; with the secret every call carries ``appsecret_proof``.
        api_version / graph_url: Graph API version (``vNN.N``) and base URL (an emulator offline).
        level: insights level: ad (default), adset, campaign or account.
        attribution_windows: defaults to 1d_click, 7d_click, 28d_click, 1d_view.
        attribution_days: days re-fetched on every run (conversions are restated for 28 days).
        initial_days: days fetched on an account's first run (unless start_date is set).
        start_date: first day fetched on an account's first run (ISO date).
        breakdowns: optional breakdown reports: age_gender, country, platform_device.
        max_concurrent_jobs / slice_days / page_size / poll_interval_s / job_timeout_s: async job tuning.
        backfill_slice_days: days per report run on an account's first run (no cursor yet) and on a backfill
            (rows stay daily); regular runs use ``slice_days``.
        retry_budget_s: total seconds the run may spend waiting on errors and limits (below the DAG timeout).
        since / until: explicit backfill range (ISO dates); the cursor does not move.
        today: overrides "today" (tests, reproducible backfills); clock: injectable clock (tests).

    dlt resolves the settings as ``MetaAdsConfiguration``, which checks them first (``marketing_dwh.settings``).
    """
    clock = clock or Clock()
    governor = UsageGovernor(clock=clock, budget=RetryBudget(retry_budget_s, clock))
    api = make_api(access_token, api_version, graph_url, governor, app_id=app_id, app_secret=app_secret)
    accounts = _Accounts(api, account_ids)
    settings = InsightsSettings(
        level=level,
        windows=tuple(attribution_windows or DEFAULT_WINDOWS),
        page_size=page_size,
        poll_interval_s=poll_interval_s,
        job_timeout_s=job_timeout_s,
        max_concurrent_jobs=max_concurrent_jobs,
        slice_days=slice_days,
        backfill_slice_days=backfill_slice_days,
    )
    window = _Window(accounts, attribution_days, initial_days, start_date, since, until, today)
    resources = [
        dlt.resource(_checked("ad_accounts", _ad_accounts(accounts)), name="ad_accounts", write_disposition="append"),
        *[
            dlt.resource(
                _checked(name, _edge(accounts, edge, fields, statuses)()), name=name, write_disposition="append"
            )
            for name, edge, fields, statuses in (
                ("campaigns", "get_campaigns", CAMPAIGN_FIELDS, all_statuses(Campaign)),
                ("adsets", "get_ad_sets", ADSET_FIELDS, all_statuses(AdSet)),
                ("ads", "get_ads", AD_FIELDS, all_statuses(Ad)),
                ("ad_creatives", "get_ad_creatives", CREATIVE_FIELDS, ()),  # creatives take no status filter
            )
        ],
        dlt.resource(_insights(api, accounts, settings, window, ()), name="insights", write_disposition="append"),
    ]
    for name in breakdowns or ():
        resources.append(
            dlt.resource(
                _insights(api, accounts, settings, window, BREAKDOWNS[name], f"insights_{name}"),
                name=f"insights_{name}",
                write_disposition="append",
            )
        )
    return resources


class _Window:
    def __init__(self, accounts: _Accounts, attribution_days: int, initial_days: int, start_date: str | None,
                 since: str | None, until: str | None, today: str | None) -> None:  # fmt: skip
        self.accounts, self.attribution_days, self.initial_days = accounts, attribution_days, initial_days
        self.start_date = start_date
        self.since, self.until, self.today = since, until, today

    @property
    def backfill(self) -> bool:
        return bool(self.since)

    def days(self, account_id: str, state: dict[str, Any]) -> tuple[date, date]:
        today = self.accounts.today(account_id, self.today)
        if self.backfill:
            until = date.fromisoformat(self.until) if self.until else today
            return max(date.fromisoformat(self.since), history_floor(today)), until
        return fetch_window(state.get("last_date"), today, self.attribution_days, self.initial_days, self.start_date)


def quarantine_rows(table: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``rows`` of ``table`` -> (the rows whose values fit the declared column types, quarantine rows for the
    others: table, the row's key, the reasons and the row as sent)."""
    spec = TABLES[table]
    keep, rejected = [], []
    for row in rows:
        reasons = spec.misfits(row)
        if reasons:
            rejected.append(_quarantined(table, row, reasons))
        else:
            keep.append(row)
    return keep, rejected


def _quarantined(table: str, row: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    """The quarantine row of ``row``: table, the row's key, the reasons and the row as sent."""
    key = ", ".join(f"{k}={row.get(k)}" for k in TABLES[table].primary_key)
    raw_text = json.dumps(row, default=str, ensure_ascii=False)
    return {"table_name": table, "row_key": key, "reason": "; ".join(reasons), "raw_text": raw_text}


def _checked(table: str, items: Iterator[Any]) -> Iterator[Any]:
    """The items of ``table`` with the rows that do not fit their declared types routed to ``quarantine``."""
    for item in items:
        rows, rejected = quarantine_rows(table, item if isinstance(item, list) else [item])
        if rejected:
            yield dlt.mark.with_table_name(rejected, QUARANTINE_TABLE)
        if rows:
            yield rows


def _ad_accounts(accounts: _Accounts) -> Iterator[dict[str, Any]]:
    for account_id in accounts.ids:
        yield accounts.info(account_id)


def _edge(accounts: _Accounts, edge: str, fields: Sequence[str], statuses: Sequence[str]) -> Any:
    def rows() -> Iterator[list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": 500}
        if statuses:
            params["effective_status"] = list(statuses)
        for account_id in accounts.ids:
            listing = getattr(AdAccount(f"act_{account_id}", api=accounts.api), edge)(
                fields=list(fields), params=params
            )
            page = []
            for obj in listing:
                row = obj.export_all_data()
                row.setdefault("account_id", account_id)
                if isinstance(row.get("creative"), dict):
                    row["creative_id"] = row.pop("creative").get("id")
                page.append(row)
            yield page

    return rows


def _insights(
    api: GovernedApi,
    accounts: _Accounts,
    settings: InsightsSettings,
    window: _Window,
    breakdowns: tuple[str, ...],
    table: str = "insights",
) -> Any:
    fields = (*INSIGHT_ID_FIELDS, *INSIGHT_NAME_FIELDS, *INSIGHT_METRIC_FIELDS)

    def rows() -> Iterator[Any]:
        state = dlt.current.resource_state().setdefault("accounts", {})
        specs, ends, window_starts = [], {}, {}
        for account_id in accounts.ids:
            cursor = state.get(account_id, {})
            since, until = window.days(account_id, cursor)
            ends[account_id], window_starts[account_id] = until, since
            # a long range: fewer, longer report runs; with time_increment=1 a run over several days still returns one
            # row per object and day (Ads Insights parameters: "time_increment ... an integer, the number of days";
            # developers.facebook.com/docs/marketing-api/insights/parameters)
            first = window.backfill or not cursor.get("last_date")
            days = settings.backfill_slice_days if first else settings.slice_days
            slices = day_slices(since, until, days)
            specs += [JobSpec(account_id, start, end, fields, breakdowns) for start, end in slices]
        fetcher = InsightsFetcher(api, settings)
        fetched_at = datetime.now(UTC)
        done: set[JobSpec] = set()
        for spec, raw_rows in fetcher.fetch(specs):
            done.add(spec)
            if not raw_rows:
                continue
            rows_out, actions, rejected = _shape(raw_rows, settings, fetched_at, table)
            if rejected:
                yield dlt.mark.with_table_name(rejected, QUARANTINE_TABLE)
            if rows_out:
                yield rows_out
            if not breakdowns and actions.num_rows:
                yield dlt.mark.with_table_name(actions, "insights_actions")
        missing = _first_missing_day(specs, done)
        if fetcher.stopped:
            yield dlt.mark.with_table_name(_stop_rows(fetcher.stopped, missing, len(done), fetched_at), "run_stops")
        if not window.backfill:  # the cursor moves only on regular runs, committed with the load
            for account_id, until in ends.items():
                if account_id not in missing:
                    state.setdefault(account_id, {})["last_date"] = until.isoformat()
                elif missing[account_id] > window_starts[account_id]:  # the next window starts at the missing day
                    last = missing[account_id] + timedelta(days=window.attribution_days - 1)
                    state.setdefault(account_id, {})["last_date"] = last.isoformat()

    return rows


def _first_missing_day(specs: list[JobSpec], done: set[JobSpec]) -> dict[str, date]:
    missing: dict[str, date] = {}
    for spec in specs:
        if spec not in done:
            missing[spec.account_id] = min(spec.since, missing.get(spec.account_id, spec.since))
    return missing


def _stop_rows(stopped: tuple[JobSpec, Any], missing: dict[str, date], kept: int, at: datetime) -> list[dict]:
    """One row per account left incomplete; the message names the account, the last error and what to do."""
    spec, exhausted = stopped
    return [
        {
            "account_id": account_id,
            "resource": "insights",
            "stopped_at": at,
            "first_missing_day": day,
            "message": f"insights of act_{account_id} stopped at {day} ({spec.describe()}): {exhausted} "
            f"{kept} complete job(s) (account-days) were kept; the next run fetches act_{account_id} from "
            f"{day} on",
        }
        for account_id, day in sorted(missing.items())
    ]


_ACTION_COLUMNS = ("account_id", "level", "object_id", "ad_id", "date_start", "action_kind", "action_type",
                   "attribution_window", "value")  # fmt: skip


EXACT_SCALE = 9
EXACT_TYPE = pa.decimal128(38, EXACT_SCALE)  # BigQuery NUMERIC: money and action values as the API sends them
_ACTION_KEY = ("account_id", "level", "object_id", "date_start", "action_kind", "action_type", "attribution_window")
_ACTION_SCHEMA = pa.schema(
    [
        pa.field(
            c,
            pa.date32() if c == "date_start" else EXACT_TYPE if c == "value" else pa.string(),
            nullable=c not in _ACTION_KEY,
        )  # fmt: skip
        for c in _ACTION_COLUMNS
    ]
)


def _shape(
    raw_rows: list[dict[str, Any]], settings: InsightsSettings, fetched_at: datetime, table: str = "insights"
) -> tuple[list, pa.Table, list[dict[str, Any]]]:
    """Insight rows (identity columns added), their unnested actions as one typed Arrow table, and quarantine
    rows for the insight rows with a value that does not fit its type (neither they nor their actions load).

    The actions table is ~30x the insight rows: built column-wise, it skips dlt's per-row normalisation.
    """
    id_field = f"{settings.level}_id"
    windows = (*settings.windows, "value")
    shaped = []
    for raw in raw_rows:
        row = dict(raw)
        row["level"] = settings.level
        row["object_id"] = raw.get(id_field) or raw.get("account_id")
        row["_fetched_at"] = fetched_at
        shaped.append(row)
    rows, rejected = quarantine_rows(table, shaped)
    cols: dict[str, list[Any]] = {c: [] for c in _ACTION_COLUMNS}
    owners: list[int] = []  # the insight row (index in rows) of each action
    for i, row in enumerate(rows):
        identity = (row["account_id"], row["level"], row["object_id"], row.get("ad_id"), row["date_start"])
        for kind in ("actions", "action_values"):
            for element in row.get(kind) or []:
                for w in windows:
                    if w in element:
                        for name, value in zip(_ACTION_COLUMNS[:5], identity, strict=True):
                            cols[name].append(value)
                        cols["action_kind"].append(kind)
                        cols["action_type"].append(element.get("action_type"))
                        cols["attribution_window"].append("default" if w == "value" else w)
                        cols["value"].append(None if element[w] is None else str(element[w]))
                        owners.append(i)
    actions = pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})
    actions = actions.set_column(4, "date_start", pc.cast(actions.column("date_start"), pa.date32()))
    values, misfits = _exact(actions.column("value"))
    actions = actions.set_column(8, "value", values)
    if misfits:  # an insight row with an action value that is no number: quarantined with its actions
        reasons: dict[int, list[str]] = {}
        for at in misfits:
            kind, action, window, text = (cols[c][at] for c in ("action_kind", "action_type", "attribution_window",
                                                                "value"))  # fmt: skip
            reasons.setdefault(owners[at], []).append(
                f"{kind} {action} ({window}): {text!r} is not a number that fits decimal(38, {EXACT_SCALE})"
            )
        rejected += [_quarantined(table, rows[i], why) for i, why in reasons.items()]
        keep = pa.array([owner not in reasons for owner in owners], pa.bool_())
        actions = actions.filter(keep)
        rows = [row for i, row in enumerate(rows) if i not in reasons]
    return rows, actions.cast(_ACTION_SCHEMA), rejected


_NANO = Decimal(1).scaleb(-EXACT_SCALE)
_EXACT_CONTEXT = Context(prec=38)


def _exact(values: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[int]]:
    """Action values as sent ("63.416842"), as decimal(38, 9), and the positions of those that are no number that
    fits (to quarantine). The cast is exact for up to 9 decimals; a value with more is rounded half-even at the 9th
    (never an error)."""
    try:
        if values.null_count == 0:
            return pc.cast(values, EXACT_TYPE), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    exact = [_quantize(v) for v in values.to_pylist()]
    misfits = [i for i, number in enumerate(exact) if number is None]
    return pa.chunked_array([pa.array(exact, EXACT_TYPE)], EXACT_TYPE), misfits


def _quantize(value: str | None) -> Decimal | None:
    try:
        number = Decimal(value) if value is not None else None
    except InvalidOperation:
        return None
    if number is None or not number.is_finite() or abs(number) >= 10**29:
        return None
    return number.quantize(_NANO, ROUND_HALF_EVEN, context=_EXACT_CONTEXT)  # 38 digits: past the default 28
