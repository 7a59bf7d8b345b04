"""Scriptable faults: each rule matches by optional account / path substring / method and fires ``times`` times.

``times=None`` means "until ``faults.clear()``". Rules are checked in the order they were added; the first one
that matches and still has shots left fires. Every method returns the rule, whose ``hits`` counts its firings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sources.meta_ads.emulator.errors import REDUCE_DATA_MESSAGE, GraphError
from sources.meta_ads.emulator.recorded import Recorded, recorded

JobSelector = Callable[[dict[str, Any]], bool]


@dataclass
class Fault:
    kind: str  # error | replay | throttle | reduce_data | job_failure | job_never_completes
    times: int | None
    account_id: str | None = None
    path_contains: str | None = None
    method: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    hits: int = 0
    role: str | None = None  # report_run_status | report_run_results | insights (see GraphApp.role)

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, path: str, account_id: str | None, role: str | None = None) -> bool:
        if self.exhausted:
            return False
        if self.role is not None and self.role != role:
            return False
        if self.account_id is not None and _bare(self.account_id) != account_id:
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        return self.method is None or self.method.upper() == method.upper()


def _bare(account_id: str) -> str:
    return str(account_id).removeprefix("act_")


class Faults:
    """What goes wrong, and when. See the package docstring for examples."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    # --- scripting (tests) ----------------------------------------------------------------------
    def error(
        self,
        code: int,
        subcode: int | None = None,
        message: str | None = None,
        http_status: int = 400,
        is_transient: bool | None = None,
        path_contains: str | None = None,
        account_id: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> Fault:
        """Answer matching requests with a Graph API error (``is_transient`` defaults from the code / 5xx)."""
        options = {
            "code": code,
            "subcode": subcode,
            "message": message,
            "http_status": http_status,
            "is_transient": is_transient,
            "user_title": user_title,
            "user_msg": user_msg,
        }
        return self._add(Fault("error", times, account_id, path_contains, method, options))

    def replay(
        self,
        name: str,
        path_contains: str | None = None,
        account_id: str | None = None,
        method: str | None = None,
        times: int | None = 1,
        role: str | None = None,
    ) -> Fault:
        """Answer matching requests with a recorded response (``fixtures/<name>.toml``) exactly as recorded:
        its status, content type, body (JSON or an HTML page) and only its own usage headers. ``role``
        narrows it to ``report_run_status`` (``GET /<run id>``), ``report_run_results`` or ``insights``."""
        rule = Fault("replay", times, account_id, path_contains, method, {"recorded": recorded(name)}, role=role)
        return self._add(rule)

    def throttle(
        self,
        util_pct: float = 96,
        regain_minutes: int = 2,
        account_id: str | None = None,
        path_contains: str | None = None,
        times: int | None = None,
        code: int | None = None,
        method: str | None = None,
        insights_pct: float | None = None,
    ) -> Fault:
        """Usage headers report ``util_pct`` and the regain time; at >= 100 the request also fails
        (code 80000 on insights requests, 17 elsewhere, subcode 2446079; ``code`` overrides).
        ``insights_pct`` keeps ``x-fb-ads-insights-throttle`` at that value meanwhile: the real header tends
        to stay low until error 17 arrives."""
        options = {"util_pct": util_pct, "regain_minutes": regain_minutes, "code": code, "insights_pct": insights_pct}
        return self._add(Fault("throttle", times, account_id, path_contains, method, options))

    def reduce_data(self, max_limit: int = 100, account_id: str | None = None, times: int | None = None) -> Fault:
        """Insight pages asked for with ``limit`` > ``max_limit`` fail with code 1 "Please reduce the amount ..."."""
        return self._add(Fault("reduce_data", times, account_id, "/insights", "GET", {"max_limit": max_limit}))

    def job_failure(
        self,
        when: JobSelector | None = None,
        *,
        unfiltered: bool = False,
        max_fields: int | None = None,
        account_id: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Async report runs that match end in "Job Failed". Selectors (all given must hold): ``when(params)``
        on the decoded job parameters, ``unfiltered`` (no ``filtering``), ``max_fields`` (more fields than N)."""
        return self._add(self._job_rule("job_failure", when, unfiltered, max_fields, account_id, times))

    def job_never_completes(
        self,
        when: JobSelector | None = None,
        *,
        unfiltered: bool = False,
        max_fields: int | None = None,
        account_id: str | None = None,
        times: int | None = None,
    ) -> Fault:
        """Like ``job_failure``, but the run stays "Job Running" forever."""
        return self._add(self._job_rule("job_never_completes", when, unfiltered, max_fields, account_id, times))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Fault]:
        with self._lock:
            return list(self._rules)

    # --- used by the emulator -------------------------------------------------------------------
    def take_error(self, method: str, path: str, account_id: str | None) -> GraphError | None:
        rule = self._take("error", method, path, account_id)
        if rule is None:
            return None
        o = rule.options
        return GraphError(
            o["code"],
            o["message"],
            o["subcode"],
            o["http_status"],
            o["is_transient"],
            user_title=o["user_title"],
            user_msg=o["user_msg"],
        )

    def take_replay(self, method: str, path: str, account_id: str | None, role: str | None) -> Recorded | None:
        rule = self._take("replay", method, path, account_id, role)
        return None if rule is None else rule.options["recorded"]

    def take_throttle(self, method: str, path: str, account_id: str | None) -> dict[str, Any] | None:
        rule = self._take("throttle", method, path, account_id)
        return None if rule is None else dict(rule.options)

    def take_reduce_data(self, path: str, account_id: str | None, limit: int) -> GraphError | None:
        with self._lock:
            for rule in self._rules:
                if (
                    rule.kind == "reduce_data"
                    and rule.matches("GET", path, account_id)
                    and limit > rule.options["max_limit"]
                ):
                    rule.hits += 1
                    return GraphError(1, REDUCE_DATA_MESSAGE, http_status=500)
        return None

    def job_outcome(self, account_id: str, params: dict[str, Any]) -> str | None:
        """ "failed", "stuck" or None (completes normally) for a new async report run."""
        with self._lock:
            for rule in self._rules:
                if (
                    rule.kind in ("job_failure", "job_never_completes")
                    and rule.matches("POST", "", account_id)
                    and _job_selected(rule.options, params)
                ):
                    rule.hits += 1
                    return "failed" if rule.kind == "job_failure" else "stuck"
        return None

    # --- internals ------------------------------------------------------------------------------
    def _add(self, rule: Fault) -> Fault:
        with self._lock:
            self._rules.append(rule)
        return rule

    def _take(self, kind: str, method: str, path: str, account_id: str | None, role: str | None = None) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind == kind and rule.matches(method, path, account_id, role):
                    rule.hits += 1
                    return rule
        return None

    @staticmethod
    def _job_rule(
        kind: str,
        when: JobSelector | None,
        unfiltered: bool,
        max_fields: int | None,
        account_id: str | None,
        times: int | None,
    ) -> Fault:
        options = {"when": when, "unfiltered": unfiltered, "max_fields": max_fields}
        return Fault(kind, times, account_id, None, None, options)


def _job_selected(options: dict[str, Any], params: dict[str, Any]) -> bool:
    if options["unfiltered"] and params.get("filtering"):
        return False
    if options["max_fields"] is not None and len(params.get("fields") or ()) <= options["max_fields"]:
        return False
    return options["when"] is None or bool(options["when"](params))
