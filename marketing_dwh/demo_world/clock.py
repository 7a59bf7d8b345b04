"""Local-time arithmetic for the demo world without tzdata: three daylight-saving rule sets are enough.

Zones: ``CET`` (central Europe), ``WET`` (UK, Ireland) and ``US_EASTERN``. Rules are the ones in force in
2026: the EU switches at 01:00 UTC on the last Sundays of March and October, the US at 02:00 local time on the
second Sunday of March and the first Sunday of November.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

# zone -> (standard offset, summer offset) in minutes east of UTC
ZONES: dict[str, tuple[int, int]] = {"CET": (60, 120), "WET": (0, 60), "US_EASTERN": (-300, -240)}


def _last_sunday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _nth_sunday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(6 - first.weekday()) % 7, weeks=n - 1)


def summer_time_bounds(zone: str, year: int) -> tuple[datetime, datetime]:
    """UTC instants at which summer time starts and ends in ``year``."""
    if zone == "US_EASTERN":
        begin = datetime.combine(_nth_sunday(year, 3, 2), time(7), UTC)
        return begin, datetime.combine(_nth_sunday(year, 11, 1), time(6), UTC)
    begin = datetime.combine(_last_sunday(year, 3), time(1), UTC)
    return begin, datetime.combine(_last_sunday(year, 10), time(1), UTC)


def utc_offset_minutes(zone: str, instant: datetime) -> int:
    """Offset (minutes east of UTC) of ``zone`` at the aware ``instant``."""
    standard, summer = ZONES[zone]
    begin, end = summer_time_bounds(zone, instant.astimezone(UTC).year)
    return summer if begin <= instant < end else standard


def offset_segments(zone: str, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """Split [since, until) into pieces of constant offset: a list of (piece end, offset minutes)."""
    switches = sorted(
        b for year in range(since.year, until.year + 1) for b in summer_time_bounds(zone, year) if since < b < until
    )
    ends = [*switches, until]
    return [(end, utc_offset_minutes(zone, end - timedelta(seconds=1))) for end in ends]


def format_offset(minutes: int, zulu: bool = False) -> str:
    """``+02:00`` style suffix; ``Z`` for a zero offset when ``zulu`` is set."""
    if minutes == 0 and zulu:
        return "Z"
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def to_local(instant: datetime, zone: str) -> tuple[datetime, int]:
    """Naive local wall time of ``instant`` in ``zone`` and the offset used."""
    offset = utc_offset_minutes(zone, instant)
    return (instant + timedelta(minutes=offset)).replace(tzinfo=None), offset


def local_iso(instant: datetime, zone: str, zulu: bool = False) -> str:
    """ISO-8601 local time with offset, seconds precision, e.g. ``2026-08-03T14:05:09+02:00``."""
    local, offset = to_local(instant, zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + format_offset(offset, zulu)


def local_date(instant: datetime, zone: str) -> date:
    return to_local(instant, zone)[0].date()


def local_to_utc(local: datetime, zone: str) -> datetime:
    """Aware UTC instant of a naive local wall time (the summer reading wins in the repeated hour)."""
    standard, summer = ZONES[zone]
    guess = (local - timedelta(minutes=summer)).replace(tzinfo=UTC)
    if utc_offset_minutes(zone, guess) == summer:
        return guess
    return (local - timedelta(minutes=standard)).replace(tzinfo=UTC)
