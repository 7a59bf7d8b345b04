"""The Graph API itself, without HTTP: tokens, faults, nodes and edges, cursor paging, async report runs, batch.

``GraphApp.handle(method, path, params)`` answers one request with a ``Reply`` (status, headers, JSON text) and
logs it. The HTTP server and batch requests both go through it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sources.clock import Clock
from sources.meta_ads.emulator.data import INACTIVE_STATUSES, MetaData, Node
from sources.meta_ads.emulator.errors import GraphError, default_message, invalid_param, unsupported
from sources.meta_ads.emulator.faults import Faults
from sources.meta_ads.emulator.latency import JobDurations, Latency, RequestDelays
from sources.meta_ads.emulator.reports import Query, as_json, as_list, field_names, parse_query, run_report
from sources.meta_ads.emulator.store import EDGE_KINDS, EDGES_OF, NODE_TYPES, Store
from sources.meta_ads.emulator.usage import UsageMeter

VERSION = re.compile(r"^v\d+\.\d+$")
SECRET_PARAMS = ("access_token", "appsecret_proof")
USER = {"id": "10000000000000001", "name": "Emulator User"}
DEFAULT_LIMIT = 25
MAX_BATCH = 50
CACHE_REPORTS = 64
EFFECTIVE_STATUSES = (
    "ACTIVE",
    "PAUSED",
    "DELETED",
    "PENDING_REVIEW",
    "DISAPPROVED",
    "PREAPPROVED",
    "PENDING_BILLING_INFO",
    "CAMPAIGN_PAUSED",
    "ARCHIVED",
    "ADSET_PAUSED",
    "IN_PROCESS",
    "WITH_ISSUES",
)
JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Job:
    """An async report run (an ``AdReportRun``).

    Without a job latency its status moves one step per poll (``polls_to_complete``). With one, it moves with the
    emulator's clock over the run's drawn ``duration``: queued ("Job Not Started", 0%) for its first tenth, "Job
    Started" (started, not yet running) for the next, then "Job Running" with ``async_percent_completion`` = the
    share of the duration gone by, and "Job Completed" with 100% only once the whole duration has passed, however
    often it was polled. Source: Meta's Insights API page, "Insights API Asynchronous Jobs" (poll the report run
    "until async_status is Job Completed and async_percent_completion is 100"; the Async Job Status table: Not
    Started / Started "but is not yet running" / Running / Completed / Failed / Skipped),
    https://developers.facebook.com/docs/marketing-api/insights#asynchronous
    """

    id: str
    query: Query
    outcome: str | None  # None (completes), "failed" or "stuck"
    created: int  # unix time (time_ref)
    started: float = 0.0  # emulator clock at submission
    duration: float | None = None  # seconds on the emulator clock; None: completes after polls_to_complete polls
    polls: int = 0
    completed_at: int | None = None
    ended: float | None = None  # emulator clock when it reached "Job Completed" / "Job Failed"

    def poll(self, polls_to_complete: int, now: float) -> tuple[str, int]:
        self.polls += 1
        return self.state(polls_to_complete, now)

    def state(self, polls_to_complete: int, now: float) -> tuple[str, int]:
        if self.duration is not None:
            return self._timed_state(now)
        n, p = max(1, polls_to_complete), self.polls
        if p >= n:
            if self.outcome is None:
                return "Job Completed", 100
            return ("Job Failed" if self.outcome == "failed" else "Job Running"), round(100 * (n - 1) / n)
        step = p - 1
        if step <= 0:
            return "Job Not Started", 0
        return ("Job Started" if step == 1 else "Job Running"), round(100 * step / n)

    def _timed_state(self, now: float) -> tuple[str, int]:
        assert self.duration is not None
        if now >= self.started + self.duration:  # the same sum as ``end``: complete exactly from then on
            if self.outcome is None:
                return "Job Completed", 100
            if self.outcome == "failed":
                return "Job Failed", 99
            return "Job Running", 99  # stuck
        share = (now - self.started) / self.duration
        if share < 0.1:
            return "Job Not Started", 0
        if share < 0.2:
            return "Job Started", 0
        return "Job Running", min(99, int(100 * share))

    def end(self, polls_to_complete: int) -> float | None:
        """When the run stopped running on the emulator clock (None: still running, or never ends)."""
        if self.duration is not None:
            return None if self.outcome == "stuck" else self.started + self.duration
        return self.ended


def decode_params(params: dict[str, str]) -> dict[str, Any]:
    """Parameters as a test wants to read them: secrets dropped, JSON lists/objects decoded."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in SECRET_PARAMS:
            continue
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[key] = value
    return out


def encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"emu:{index}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, index = text.split(":")
        if prefix != "emu":
            raise ValueError(cursor)
        return int(index)
    except ValueError:
        raise invalid_param(f"The cursor '{cursor}' is invalid") from None


class GraphApp:
    def __init__(
        self,
        data: MetaData,
        access_token: str,
        polls_to_complete: int,
        base_url: Callable[[], str],
        job_latency: Latency | None = None,
        request_latency: Latency | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = Store(data)
        self.clock = clock or Clock()
        self.job_latency, self.request_latency = job_latency, request_latency
        self.access_token = access_token
        self.polls_to_complete = polls_to_complete
        self.faults = Faults()
        self.usage = UsageMeter()
        self.log: list[dict[str, Any]] = []
        self._base_url = base_url
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._job_seq = 0
        self._reports: OrderedDict[tuple, list[str]] = OrderedDict()

    # --- latency -------------------------------------------------------------------------------------
    @property
    def job_latency(self) -> Latency | None:
        return self._durations.latency if self._durations else None

    @job_latency.setter
    def job_latency(self, latency: Latency | None) -> None:
        self._durations = JobDurations(latency) if latency else None

    @property
    def request_latency(self) -> Latency | None:
        return self._delays.latency if self._delays else None

    @request_latency.setter
    def request_latency(self, latency: Latency | None) -> None:
        self._delays = RequestDelays(latency) if latency else None

    def request_delay(self) -> float:
        """Wait one request's latency on the emulator clock (none unless ``request_latency`` is set)."""
        delays = self._delays
        if delays is None:
            return 0.0
        seconds = delays.draw()
        self.clock.sleep(seconds)
        return seconds

    # --- report runs in flight -----------------------------------------------------------------------
    def report_runs(self) -> list[tuple[float, float | None]]:
        """(start, end) of every report run on the emulator clock; end None: still running or never ends."""
        with self._lock:
            return [(job.started, job.end(self.polls_to_complete)) for job in self._jobs.values()]

    def running_report_runs(self) -> int:
        """Report runs running now: submitted and not yet completed or failed."""
        now = self.clock.now()
        return sum(1 for start, end in self.report_runs() if start <= now and (end is None or now < end))

    def peak_running_report_runs(self) -> int:
        """The most report runs that were running at the same moment, over the emulator's life."""
        events = []
        for start, end in self.report_runs():
            events.append((start, 1))
            if end is not None:
                events.append((end, -1))
        peak = running = 0
        for _, step in sorted(events):  # at equal times an end (-1) sorts first: [start, end) intervals
            running += step
            peak = max(peak, running)
        return peak

    # --- entry point ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, params: dict[str, str], in_batch: bool = False) -> Reply:
        method = method.upper()
        version, parts = self._split_path(path)
        clean_path = "/" + "/".join([version, *parts] if version else parts)
        account = self._account_of(parts)
        self.usage.record(account)
        replay = self.faults.take_replay(method, clean_path, account, self.role(method, parts))
        if replay is not None:
            status, headers, body = replay.render(parts[0] if parts else "")
            self._log(method, clean_path, params, status, account, in_batch)
            return Reply(status, headers, body)
        throttle = self.faults.take_throttle(method, clean_path, account)
        try:
            self._check_token(params, in_batch)
            error = self.faults.take_error(method, clean_path, account)
            if error:
                raise error
            if throttle and throttle["util_pct"] >= 100:
                code = throttle["code"] or (80000 if self._is_insights(parts) else 17)
                raise GraphError(code, default_message(code), subcode=2446079, is_transient=True)
            status, body = 200, self._route(method, version, parts, params, clean_path)
        except GraphError as err:
            status, body = err.http_status, json.dumps(err.body())
        headers = {"Content-Type": JSON_TYPE, **self.usage.headers(account, self.store.account_ids, throttle)}
        self._log(method, clean_path, params, status, account, in_batch)
        return Reply(status, headers, body)

    def _log(self, method: str, path: str, params: dict[str, str], status: int, account: str | None,
             in_batch: bool) -> None:  # fmt: skip
        self.log.append(
            {
                "method": method,
                "path": path,
                "params": decode_params(params),
                "status": status,
                "time": time.time(),
                "account_id": account,
                "batch": in_batch,
            }
        )

    def role(self, method: str, parts: list[str]) -> str | None:
        """What a request is, for faults: a report run's status poll or result page, or an insights request."""
        with self._lock:
            is_run = bool(parts) and parts[0] in self._jobs
        if is_run:
            return "report_run_status" if len(parts) == 1 else "report_run_results"
        return "insights" if "insights" in parts else None

    @staticmethod
    def _split_path(path: str) -> tuple[str, list[str]]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if parts and VERSION.match(parts[0]):
            return parts[0], parts[1:]
        return "", parts

    def _account_of(self, parts: list[str]) -> str | None:
        if not parts or parts[0] == "me":
            return None
        account = self.store.account_of(parts[0])
        if account is None:
            with self._lock:
                job = self._jobs.get(parts[0])
            account = job.query.account_id if job else None
        return account

    def _is_insights(self, parts: list[str]) -> bool:
        return "insights" in parts or (bool(parts) and parts[0] in self._jobs)

    def _check_token(self, params: dict[str, str], in_batch: bool) -> None:
        token = params.get("access_token")
        if not token:
            if in_batch and token is None:
                return  # a batch's calls use the batch request's token
            raise GraphError(104)
        if token != self.access_token:
            raise GraphError(190, subcode=None)

    # --- routing -------------------------------------------------------------------------------------
    def _route(self, method: str, version: str, parts: list[str], params: dict[str, str], path: str) -> str:
        if not parts:
            if method == "POST" and "batch" in params:
                return self._batch(version, params)
            raise invalid_param("Missing node id in the request path")
        node_id, edge = parts[0], parts[1] if len(parts) > 1 else None
        if len(parts) > 2:
            raise unsupported(method, "/".join(parts))
        if node_id == "me":
            if method != "GET":
                raise unsupported(method, node_id)
            if edge is None:
                return json.dumps(_project(USER, params, ("id", "name")))
            if edge == "adaccounts":
                nodes = [_project(a, params, ("account_id", "id")) for a in self.store.data.accounts]
                return self._page([json.dumps(n) for n in nodes], params, path, len(nodes))
            raise invalid_param(f"Tried accessing nonexisting field ({edge}) on node type (User)")
        with self._lock:
            job = self._jobs.get(node_id)
        if job is not None:
            return self._job(method, job, edge, params, path)
        found = self.store.node(node_id)
        if found is None:
            raise unsupported(method, node_id)
        kind, node = found
        if edge is None:
            if method != "GET":
                raise unsupported(method, node_id)
            return json.dumps(_project(node, params, ("id",)))
        if edge not in EDGES_OF[kind]:
            raise invalid_param(f"Tried accessing nonexisting field ({edge}) on node type ({NODE_TYPES[kind]})")
        if edge == "insights":
            account = self.store.account_of(node_id) or ""
            query = parse_query(params, (kind, node_id.removeprefix("act_")), account, self.store, date.today())
            if method == "POST":
                return self._submit(query, params)
            if method == "GET":
                self._check_page_size(path, account, params)
                return self._page(self._report(query), params, path)
        elif method == "GET":
            return self._edge(node_id, edge, params, path)
        raise unsupported(method, node_id)

    # --- nodes and edges -----------------------------------------------------------------------------
    def _edge(self, node_id: str, edge: str, params: dict[str, str], path: str) -> str:
        nodes = self.store.edges.get((node_id, edge), [])
        statuses = {str(s) for s in as_list(params.get("effective_status"), "effective_status")}
        rules = as_json(params.get("filtering") or "[]", "filtering") or []
        if not isinstance(rules, list):
            raise invalid_param("Param filtering must be an array of {field, operator, value} objects")
        for status in statuses:
            if status not in EFFECTIVE_STATUSES:
                raise invalid_param(f"Param effective_status[0] must be one of {{{', '.join(EFFECTIVE_STATUSES)}}}")
        status_filtered = bool(statuses) or any(
            isinstance(r, dict) and str(r.get("field", "")).endswith("effective_status") for r in rules
        )
        kind = EDGE_KINDS[edge]
        out = []
        for node in nodes:
            status = node.get("effective_status") or node.get("status") or "ACTIVE"
            if statuses and status not in statuses:
                continue
            if not status_filtered and status in INACTIVE_STATUSES:
                continue
            if all(self._object_filter(node, kind, rule) for rule in rules):
                out.append(json.dumps(_project(node, params, ("id",))))
        return self._page(out, params, path, len(out))

    def _object_filter(self, node: Node, kind: str, rule: Any) -> bool:
        if not isinstance(rule, dict) or "field" not in rule or "operator" not in rule:
            raise invalid_param("Param filtering must be an array of {field, operator, value} objects")
        name, op, wanted = str(rule["field"]), str(rule["operator"]).upper(), rule.get("value")
        short = name.split(".", 1)[-1] if name.startswith(f"{kind}.") else name
        if short in ("updated_time", "created_time"):
            value: Any = self.store.epoch(node, short)
            wanted = _epoch(wanted)
        elif short in ("id", "effective_status", "name", "status", "configured_status", "objective"):
            value = node.get(short) if short != "effective_status" else node.get(short, node.get("status"))
        elif name in ("campaign.id", "adset.id", "ad.id"):
            value = node.get(name.replace(".", "_"))
        else:
            raise invalid_param(f"Filtering field {name} is invalid")
        return _compare(value, op, wanted, name)

    # --- insights ------------------------------------------------------------------------------------
    def _report(self, query: Query) -> list[str]:
        key = (query, self.store.version)
        with self._lock:
            rows = self._reports.get(key)
            if rows is not None:
                self._reports.move_to_end(key)
                return rows
        rows = run_report(self.store, query)
        with self._lock:
            self._reports[key] = rows
            while len(self._reports) > CACHE_REPORTS:
                self._reports.popitem(last=False)
        return rows

    def _submit(self, query: Query, params: dict[str, str]) -> str:
        selector = decode_params(params)
        selector["fields"] = list(query.fields)
        outcome = self.faults.job_outcome(query.account_id, selector)
        durations = self._durations
        duration = durations.draw(_job_key(query)) if durations else None
        with self._lock:
            self._job_seq += 1
            job = Job(str(6_000_000_000_000_000 + self._job_seq), query, outcome, int(time.time()),
                      self.clock.now(), duration)  # fmt: skip
            self._jobs[job.id] = job
        return json.dumps({"report_run_id": job.id})

    def _job(self, method: str, job: Job, edge: str | None, params: dict[str, str], path: str) -> str:
        if method != "GET" or edge not in (None, "insights"):
            raise unsupported(method, job.id if edge is None else f"{job.id}/{edge}")
        if edge is None:
            with self._lock:
                now = self.clock.now()
                status, pct = job.poll(self.polls_to_complete, now)
                if status in ("Job Completed", "Job Failed") and job.ended is None:
                    job.ended = now
                if status == "Job Completed" and job.completed_at is None:
                    job.completed_at = int(time.time())
            node = {
                "id": job.id,
                "account_id": job.query.account_id,
                "time_ref": job.created,
                "async_status": status,
                "async_percent_completion": pct,
                "is_running": status in ("Job Started", "Job Running"),
                "date_start": job.query.since.isoformat(),
                "date_stop": job.query.until.isoformat(),
                "emails": [],
            }
            if job.completed_at is not None:
                node["time_completed"] = job.completed_at
            return json.dumps(_project(node, params, tuple(node)))
        with self._lock:
            status, _ = job.state(self.polls_to_complete, self.clock.now())
        if status != "Job Completed":
            raise invalid_param(f"Report run {job.id} is not ready: its async_status is '{status}'")
        self._check_page_size(path, job.query.account_id, params)
        return self._page(self._report(job.query), params, path)

    def _check_page_size(self, path: str, account_id: str, params: dict[str, str]) -> None:
        error = self.faults.take_reduce_data(path, account_id, _limit(params))
        if error:
            raise error

    # --- paging --------------------------------------------------------------------------------------
    def _page(self, items: list[str], params: dict[str, str], path: str, total: int | None = None) -> str:
        """A page of pre-rendered items with cursor paging (``next`` only when more pages exist)."""
        limit = _limit(params)
        start = decode_cursor(params["after"]) + 1 if params.get("after") else 0
        chunk = items[start : start + limit]
        body = '{"data":[' + ",".join(chunk) + "]"
        if chunk:
            end = start + len(chunk)
            paging: dict[str, Any] = {"cursors": {"before": encode_cursor(start), "after": encode_cursor(end - 1)}}
            if end < len(items):
                paging["next"] = self._url(path, params, after=encode_cursor(end - 1))
            if start > 0:
                paging["previous"] = self._url(path, params, before=encode_cursor(start))
            body += ',"paging":' + json.dumps(paging)
        if total is not None and str(params.get("summary", "")).lower() in ("true", "1", "total_count"):
            body += ',"summary":{"total_count":' + str(total) + "}"
        return body + "}"

    def _url(self, path: str, params: dict[str, str], **cursor: str) -> str:
        query = {k: v for k, v in params.items() if k not in ("after", "before")}
        query.update(cursor)
        return f"{self._base_url()}{path}?{urlencode(query)}"

    # --- batch ---------------------------------------------------------------------------------------
    def _batch(self, version: str, params: dict[str, str]) -> str:
        calls = as_json(params["batch"], "batch")
        if not isinstance(calls, list):
            raise invalid_param("Param batch must be a JSON array of requests")
        if len(calls) > MAX_BATCH:
            raise invalid_param(f"Too many requests in batch message. Maximum batch size is {MAX_BATCH}")
        replies = []
        for call in calls:
            if not isinstance(call, dict) or "relative_url" not in call:
                raise invalid_param("Each batch request needs a method and a relative_url")
            url = str(call["relative_url"]).lstrip("/")
            path, _, query = url.partition("?")
            sub = dict(parse_qsl(query, keep_blank_values=True))
            sub.update(parse_qsl(str(call.get("body") or ""), keep_blank_values=True))
            if version and not VERSION.match(path.split("/", 1)[0]):
                path = f"{version}/{path}"
            reply = self.handle(str(call.get("method") or "GET"), "/" + path, sub, in_batch=True)
            headers = [{"name": k, "value": v} for k, v in reply.headers.items()]
            replies.append({"code": reply.status, "headers": headers, "body": reply.body})
        return json.dumps(replies)


# --- helpers --------------------------------------------------------------------------------------------


def _job_key(q: Query) -> str:
    """A report run's query as stable text (the same in every process): what its duration is drawn from."""
    filters = sorted((f.key, f.status, f.negate, sorted(f.values)) for f in q.filters)
    return json.dumps([q.account_id, str(q.since), str(q.until), q.level, q.fields, str(q.increment),
                       q.breakdowns, q.windows, filters])  # fmt: skip


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        return max(1, int(str(raw)))
    except ValueError:
        raise invalid_param("Param limit must be an integer") from None


def _project(node: dict[str, Any], params: dict[str, str], default: tuple[str, ...]) -> dict[str, Any]:
    names = field_names(params.get("fields")) or list(default)
    out = {"id": node["id"]} if "id" in node else {}
    for name in names:
        if name in node:
            out[name] = node[name]
    return out


def _epoch(value: Any) -> float:
    if isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        return float(value)
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise invalid_param(f"'{value}' is not a valid time (unix seconds or ISO 8601)") from None


def _compare(value: Any, op: str, wanted: Any, name: str) -> bool:
    if op in ("IN", "NOT_IN"):
        values = {str(v) for v in (wanted if isinstance(wanted, list) else [wanted])}
        return (str(value) in values) == (op == "IN")
    if op in ("EQUAL", "NOT_EQUAL"):
        return (str(value) == str(wanted)) == (op == "EQUAL")
    if op in ("CONTAIN", "NOT_CONTAIN"):
        return (str(wanted).lower() in str(value).lower()) == (op == "CONTAIN")
    if op in ("GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL"):
        if value is None:
            return False
        try:
            a, b = float(value), float(wanted)
        except (TypeError, ValueError):
            raise invalid_param(f"Filtering operator {op} needs a number on {name}") from None
        return {
            "GREATER_THAN": a > b,
            "GREATER_THAN_OR_EQUAL": a >= b,
            "LESS_THAN": a < b,
            "LESS_THAN_OR_EQUAL": a <= b,
        }[op]
    raise invalid_param(f"Filtering operator {op} is not supported on {name}")
