"""A property's time zone and currency, read once per run from the Admin API (``GetProperty``).

When the Admin API cannot be read (not enabled for the project, no access), ``sources.ga4.property_timezones``
(``{"<property id>" = "<IANA zone>"}``) gives the zone; without either the run stops with a message saying so.
"Today" is the property's today: reports are dated in the property's time zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.analytics.admin_v1beta.types import GetPropertyRequest
from google.api_core import exceptions as gexc

from sources.ga4.caller import Caller, Ga4ConfigError, ReportFailed
from sources.ga4.quota import RunClock

SETTING = "sources.ga4.property_timezones"


@dataclass(frozen=True)
class PropertySettings:
    time_zone: str
    currency: str | None
    read_from: str  # "admin_api" | "setting"


def zone_setting(value: Mapping[str, Any] | None) -> dict[str, str]:
    """``sources.ga4.property_timezones`` checked: property id -> a known IANA time zone."""
    zones = {str(k).removeprefix("properties/"): str(v) for k, v in dict(value or {}).items()}
    for pid, zone in zones.items():
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise Ga4ConfigError(
                f'{SETTING}: {zone!r} for property {pid} is not an IANA time zone (e.g. "America/New_York")'
            ) from None
    return zones


class PropertySettingsCache:
    """Per run: each property's settings, read at most once."""

    def __init__(self, admin: Caller, run_clock: RunClock, fallback: dict[str, str]) -> None:
        self.admin, self.run_clock, self.fallback = admin, run_clock, fallback
        self._cache: dict[str, PropertySettings] = {}

    def get(self, property_id: str) -> PropertySettings:
        if property_id not in self._cache:
            self._cache[property_id] = self._read(property_id)
        return self._cache[property_id]

    def today(self, property_id: str) -> date:
        """The property's today: the run's UTC time in the property's time zone."""
        return self.run_clock.utc_now().astimezone(ZoneInfo(self.get(property_id).time_zone)).date()

    def _read(self, property_id: str) -> PropertySettings:
        request = GetPropertyRequest(name=f"properties/{property_id}")
        try:
            prop = self.admin.call(self.admin.client.get_property, request, property_id, "Admin API GetProperty")
            if prop.time_zone:
                return PropertySettings(prop.time_zone, prop.currency_code or None, "admin_api")
            problem = "it returned no time zone"
        except (Ga4ConfigError, ReportFailed, gexc.GoogleAPICallError) as err:
            problem = type(getattr(err, "__cause__", None) or err).__name__
        if property_id in self.fallback:
            return PropertySettings(self.fallback[property_id], None, "setting")
        raise Ga4ConfigError(
            f"GA4 property {property_id}: its time zone is unknown (Admin API GetProperty: {problem}): set "
            f'{SETTING} = {{"{property_id}" = "<IANA zone, e.g. Europe/Berlin>"}}, or enable the Google Analytics '
            "Admin API for the project and give the service account access to the property"
        )
