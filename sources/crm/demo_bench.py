"""Large CRM order files for benchmarks, generated inside DuckDB (a million rows in a few seconds).

Same columns and value formats as the demo world's orders, valid values only, campaign ids taken from the
demo world's always-on campaigns. Every value is a pure function of the row number ``i`` and ``seed`` (through
DuckDB's ``hash()``), so each file is streamed straight from ``range()`` to CSV with no table, sort or window,
and the output is the same on every run with the same DuckDB version.

Repeat purchases without a window function: order ``i`` is a repeat with 15% chance; it then belongs to the
contact of an earlier order ``j`` drawn from ``[0, i)`` that is itself a first order (first of three draws
that is; if all three are repeats, ``i`` becomes a first order). First orders create contact number ``i``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import duckdb

from marketing_dwh.demo_world import DemoWorld, clock
from marketing_dwh.demo_world import catalog as cat
from sources.crm.settings import ORDER_COLUMNS

_CHANNEL_SHARES = (
    ("direct", 0.20),
    ("google", 0.27),
    ("facebook", 0.27),
    ("organic", 0.14),
    ("display", 0.05),
    ("email", 0.07),
)
_PAYMENTS = ("card", "card", "paypal", "paypal", "klarna", "bank_transfer", "apple_pay")
_REPEAT_PER_MILLION = 150_000


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _pick(u: str, choices: list[tuple[str, float]]) -> str:
    """CASE expression that maps the uniform column ``u`` to one of ``choices`` (value, weight)."""
    total, acc, parts = sum(w for _, w in choices), 0.0, []
    for value, weight in choices[:-1]:
        acc += weight / total
        parts.append(f"when {u} < {acc!r} then {_sql_str(value)}")
    return f"case {' '.join(parts)} else {_sql_str(choices[-1][0])} end"


def _offset_case(since: datetime, until: datetime) -> str:
    """Offset minutes of the order's country at ``ts`` (naive UTC), following each zone's switches."""
    branches = []
    for zone in clock.ZONES:
        codes = ", ".join(_sql_str(c.code) for c in cat.COUNTRIES if c.zone == zone)
        segments = clock.offset_segments(zone, since, until)
        inner = " ".join(f"when ts < TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}' then {off}" for end, off in segments[:-1])
        value = f"case {inner} else {segments[-1][1]} end" if inner else str(segments[-1][1])
        branches.append(f"when country in ({codes}) then {value}")
    return f"case {' '.join(branches)} end"


def _campaign_case(world: DemoWorld) -> tuple[str, str, str]:
    """SQL for campaign_id (from ``channel``, ``country``, uniform ``u_campaign``), utm_source, utm_medium."""
    always_on = [c for c in world.campaigns if c.start <= world.start and c.stop is None]
    branches = []
    for channel in ("facebook", "google", "display", "email"):
        for market, cond in ((cat.US_MARKET, "country = 'US'"), (cat.EU_MARKET, "country <> 'US'")):
            fits = [c for c in always_on if c.channel == channel and set(market) <= set(c.countries)]
            picks = " ".join(
                f"when u_campaign < {(k + 1) / len(fits)!r} then {_sql_str(c.campaign_id)}"
                for k, c in enumerate(fits[:-1])
            )
            if fits:
                value = (
                    f"case {picks} else {_sql_str(fits[-1].campaign_id)} end"
                    if picks
                    else _sql_str(fits[-1].campaign_id)
                )
                branches.append(f"when channel = '{channel}' and {cond} then {value}")
    campaign_id = f"case {' '.join(branches)} end"
    by_id = {c.campaign_id: c for c in always_on}
    source = " ".join(f"when {_sql_str(i)} then {_sql_str(c.utm_source)}" for i, c in by_id.items())
    medium = " ".join(f"when {_sql_str(i)} then {_sql_str(c.utm_medium)}" for i, c in by_id.items())
    organic = f"when channel = 'organic' then {_sql_str(cat.ORGANIC[0])}"
    return (
        campaign_id,
        f"case {organic} else (case campaign_id {source} end) end",
        f"case when channel = 'organic' then {_sql_str(cat.ORGANIC[1])} else (case campaign_id {medium} end) end",
    )


def _bench_sql(world: DemoWorld, lo: int, hi: int, n_orders: int, seed: int) -> str:
    """SELECT of the benchmark orders ``lo <= i < hi`` out of ``n_orders``, in time order."""
    since = clock.local_to_utc(datetime.combine(world.start, time(0)), cat.GA4_PROPERTY_ZONE)
    until = since + timedelta(days=world.days)
    span, n = world.days * 86400, max(1, n_orders)
    width = max(6, len(str(n)))

    def u(x: str, salt: int) -> str:
        return f"(hash({x}, {salt}, {seed}) % 1000000) / 1000000.0"

    def first_order(x: str) -> str:
        return f"({x} = 0 or hash({x}, 12, {seed}) % 1000000 >= {_REPEAT_PER_MILLION})"

    currency = " ".join(f"when {_sql_str(c.code)} then {_sql_str(c.currency)}" for c in cat.COUNTRIES)
    shipping = " ".join(
        f"when {_sql_str(cur)} then {cents / 100} * (items * price < {cat.FREE_SHIPPING_FROM_CENTS[cur] / 100})::int"
        for cur, cents in cat.SHIPPING_CENTS.items()
    )
    campaign_id, utm_source, utm_medium = _campaign_case(world)
    offsets = " ".join(f"when {m} then '{clock.format_offset(m)}'" for zone in clock.ZONES.values() for m in zone)
    first_visit = int(since.timestamp()) - 30 * 86400
    columns = ", ".join(ORDER_COLUMNS)
    return f"""
        with draws as (
            select
                i,
                TIMESTAMP '{since.astimezone(UTC):%Y-%m-%d %H:%M:%S}'
                    + to_seconds(i * {span} // {n} + cast(floor({u("i", 1)} * {max(1, span // n)}) as bigint)) as ts,
                cast(floor({u("i", 13)} * i) as bigint) as j1,
                cast(floor({u("i", 14)} * i) as bigint) as j2,
                cast(floor({u("i", 15)} * i) as bigint) as j3,
                {u("i", 4)} as u_channel,
                {u("i", 5)} as u_items,
                {u("i", 6)} as u_price,
                {u("i", 9)} as u_campaign,
                {u("i", 10)} as u_zulu,
                {u("i", 11)} as u_payment
            from range({lo}, {hi}) t(i)
        ), owned as (
            select
                *,
                case when {first_order("i")} then i when {first_order("j1")} then j1
                     when {first_order("j2")} then j2 when {first_order("j3")} then j3 else i end as cn
            from draws
        ), shaped as (
            select
                *,
                {_pick("u_country", [(c.code, c.weight) for c in cat.COUNTRIES])} as country,
                {_pick("u_channel", list(_CHANNEL_SHARES))} as channel,
                1 + cast(floor(pow(u_items, 1.8) * 6) as integer) as items,
                round(9.95 + u_price * 70, 2) as price
            from (select *, {u("cn", 3)} as u_country from owned)
        ), localised as (
            select
                *,
                {_offset_case(since, until)} as off,
                case country {currency} end as currency,
                {campaign_id} as campaign_id
            from shaped
        ), orders as (
            select
                'ORD-' || lpad(cast(i + 1 as varchar), {width}, '0') as order_id,
                'C-' || lpad(cast(cn + 1 as varchar), {width}, '0') as contact_id,
                cast(100000000 + hash(cn, 7, {seed}) % 2000000000 as varchar) || '.'
                    || cast({first_visit} - hash(cn, 8, {seed}) % {700 * 86400} as varchar) as user_pseudo_id,
                replace(cast(local_ts as varchar), ' ', 'T')
                    || case when off = 0 and u_zulu < 0.5 then 'Z' else case off {offsets} end end as order_ts,
                cast(cast(local_ts as date) as varchar) as order_date,
                cast(cast(items * price + case currency {shipping} end as decimal(12, 2)) as varchar) as amount,
                currency,
                items,
                campaign_id,
                channel,
                {utm_source} as utm_source,
                {utm_medium} as utm_medium,
                'T-' || cast(9000000000 + i as varchar) as transaction_id,
                cn <> i as is_repeat,
                {_pick("u_payment", [(p, 1.0) for p in _PAYMENTS])} as payment_method
            from (select *, ts + to_minutes(off) as local_ts from localised)
        )
        select {columns} from orders
    """


def write_bench_orders(folder: Path, n_orders: int, n_files: int, seed: int = 7) -> list[Path]:
    """Write ``n_orders`` CRM orders into ``n_files`` time-ordered files ``orders_bench_0001.csv`` ...

    Order ids and transaction ids are distinct across files; about 15% of orders are repeat purchases.
    """
    if n_orders < 0 or n_files < 1:
        raise ValueError(f"need n_orders >= 0 and n_files >= 1, got {n_orders}, {n_files}")
    world = DemoWorld(seed=seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"orders_bench_{k + 1:04d}.csv" for k in range(n_files)]
    with duckdb.connect(":memory:") as con:
        con.execute("set enable_progress_bar = false")

        def write(k: int) -> None:  # range() is scanned by one thread: run files side by side instead
            lo, hi = n_orders * k // n_files, n_orders * (k + 1) // n_files
            sql = _bench_sql(world, lo, hi, n_orders, seed)
            with con.cursor() as cur:
                cur.execute(f"copy ({sql}) to {_sql_str(str(paths[k]))} (header, delimiter ',')")

        with ThreadPoolExecutor(max_workers=min(n_files, os.cpu_count() or 1)) as pool:
            list(pool.map(write, range(n_files)))
    return paths
