"""Usage headers on every response: business-use-case, ad account, app and insights-throttle utilisation.

Baseline utilisation grows slowly with the number of calls (1 point per 20 calls of an account, 1 per 200 of
the app, capped at 45%), so a normal run never comes near the limits; a ``throttle`` fault overrides it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

ACCESS_TIER = "standard_access"
BASELINE_CAP_PCT = 45


class UsageMeter:
    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._total = 0
        self._lock = threading.Lock()

    def record(self, account_id: str | None) -> None:
        with self._lock:
            self._total += 1
            if account_id:
                self._calls[account_id] += 1

    def account_pct(self, account_id: str) -> int:
        return min(BASELINE_CAP_PCT, self._calls[account_id] // 20)

    def app_pct(self) -> int:
        return min(BASELINE_CAP_PCT, self._total // 200)

    def headers(self, account_id: str | None, all_accounts: Iterable[str], throttle: dict[str, Any] | None) -> dict:
        """The four usage headers (JSON strings) for a response about ``account_id`` (or every account)."""
        owners = [account_id] if account_id else list(all_accounts)
        regain_min = throttle["regain_minutes"] if throttle else 0
        forced = throttle["util_pct"] if throttle else None
        with self._lock:
            app = self.app_pct()
            pct = {a: forced if forced is not None else self.account_pct(a) for a in owners}
        top = max(pct.values(), default=forced if forced is not None else 0)
        insights = throttle["insights_pct"] if throttle and throttle.get("insights_pct") is not None else None
        buc = {
            a: [
                {
                    "type": "ads_insights",
                    "call_count": p,
                    "total_cputime": p if forced is not None else p // 2,
                    "total_time": p if forced is not None else p // 2,
                    "estimated_time_to_regain_access": regain_min,
                    "ads_api_access_tier": ACCESS_TIER,
                }
            ]
            for a, p in pct.items()
        }
        return {
            "x-business-use-case-usage": _dump(buc),
            "x-ad-account-usage": _dump(
                {"acc_id_util_pct": top, "reset_time_duration": regain_min * 60, "ads_api_access_tier": ACCESS_TIER}
            ),
            "x-app-usage": _dump({"call_count": app, "total_time": app // 2, "total_cputime": app // 3}),
            "x-fb-ads-insights-throttle": _dump(
                {
                    "app_id_util_pct": app if insights is None else insights,
                    "acc_id_util_pct": top if insights is None else insights,
                    "ads_api_access_tier": ACCESS_TIER,
                }
            ),
        }


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
