"""What a Meta API failure means: retry it, wait out a rate limit, ask for less data, or stop with a message.

Facts behind the rules (api-notes.md, and the recorded responses in ``emulator/fixtures``): rate limits are
4, 17, 32, 613 and 80000-80014; codes 1, 2, 960 and HTTP 5xx are transient unless the error body says
``"is_transient": false`` (code 1 / subcode 2853001 is such a permanent error); "Please reduce the amount of
data" and an HTTP 500 "An unknown error occurred" on an insights page both mean "ask for a smaller page".
"""

from __future__ import annotations

import json
import re
from typing import Any

import requests
from facebook_business.exceptions import FacebookRequestError

from sources.meta_ads.settings import (
    BUDGET_SETTING,
    PERMANENT_HINTS,
    RATE_LIMIT_CODES,
    RATE_LIMIT_NAMES,
    REDUCE_DATA_MESSAGE,
    TRANSIENT_CODES,
    UNKNOWN_ERROR_MESSAGE,
)


class MetaApiError(RuntimeError):
    """A Meta API failure that retrying will not fix; the message says what to do."""

    transient = False  # pipelines.errors: an orchestrator does not retry it

    def __init__(self, message: str, code: int | None = None, subcode: int | None = None) -> None:
        super().__init__(message)
        self.code, self.subcode = code, subcode


class ReduceDataError(RuntimeError):
    """The API asked for less data per request ("Please reduce the amount of data ...")."""


class RetryBudgetExhausted(MetaApiError):
    """The run's retry time budget is used up; ``last_error`` is what was being waited out."""

    transient = True  # a later run may get through

    def __init__(self, where: str, last_error: str, total_s: float) -> None:
        self.where, self.last_error, self.total_s = where, last_error, total_s
        super().__init__(
            f"Meta Ads {where}: the retry budget of {total_s:.0f} s ({BUDGET_SETTING}) is used up; last error: "
            f"{last_error}. Run again later (the next run fetches what is missing), or raise {BUDGET_SETTING} "
            "(keep it below the Airflow DAG timeout)"
        )


class NonJsonResponse(requests.RequestException):
    """The API (or a proxy in front of it) answered with a body that is not JSON: an HTML error page, a
    truncated body. Always transient."""


def require_json(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A ``requests`` response hook: refuse a non-empty body that does not parse as JSON, before the SDK's
    parser turns it into a ``TypeError`` or a "successful" string."""
    body = response.content
    if not body or not body.strip():
        return
    try:
        json.loads(body)
    except ValueError:
        kind = (response.headers.get("Content-Type") or "no content type").split(";")[0]
        raise NonJsonResponse(f"HTTP {response.status_code} with a non-JSON body ({kind}: '{_gist(body)}')") from None


def _gist(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    gist = title.group(1) if title else text
    return " ".join(gist.split())[:80]


def error_fields(err: FacebookRequestError) -> dict[str, Any]:
    body = err.body()
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def is_rate_limit(err: FacebookRequestError) -> bool:
    return err.api_error_code() in RATE_LIMIT_CODES


def declared_permanent(err: FacebookRequestError) -> bool:
    """The body says ``"is_transient": false`` (rate limits are waited out whatever they say)."""
    return error_fields(err).get("is_transient") is False and not is_rate_limit(err)


def is_transient(err: FacebookRequestError) -> bool:
    if declared_permanent(err):
        return False
    code = err.api_error_code()
    return (err.http_status() or 0) >= 500 or code in TRANSIENT_CODES or bool(err.api_transient_error())


def is_reduce_data(err: FacebookRequestError, method: str, path: Any) -> bool:
    """ "Please reduce the amount of data", or an HTTP 500 "An unknown error occurred" on an insights page."""
    message = (err.api_error_message() or "").lower()
    if REDUCE_DATA_MESSAGE in message:
        return True
    on_insights_page = method.upper() == "GET" and "insights" in _parts(path)
    unknown = err.api_error_code() == 1 and UNKNOWN_ERROR_MESSAGE in message
    return on_insights_page and unknown and err.http_status() == 500 and not declared_permanent(err)


def _parts(path: Any) -> list[str]:
    text = path if isinstance(path, str) else "/".join(map(str, path))
    return str(text).split("?")[0].split("/")


def where(path: Any) -> str:
    """The account a request is about, or the request's path."""
    parts = _parts(path)
    node = next((p for p in parts if p.startswith("act_")), None)
    return f"account {node}" if node else f"request {'/'.join(p for p in parts if p)[-60:]}"


def describe(err: FacebookRequestError) -> str:
    """``error 17/2446079 '(#17) User request limit reached' (title: text)`` — plus the limit's name."""
    code, subcode = err.api_error_code(), err.api_error_subcode()
    if code is None:
        return f"HTTP {err.http_status()} '{err.api_error_message() or err.body()}'"
    label = f"{code}" + (f"/{subcode}" if subcode else "")
    fields = error_fields(err)
    user = ": ".join(str(fields[k]) for k in ("error_user_title", "error_user_msg") if fields.get(k))
    text = f"error {label} '{err.api_error_message()}'" + (f" ({user})" if user else "")
    if is_rate_limit(err):
        text += f", {RATE_LIMIT_NAMES.get(code, f'a business-use-case rate limit (#{code})')}"
    return text


def permanent_message(err: FacebookRequestError, at: str) -> str:
    code, subcode = err.api_error_code(), err.api_error_subcode()
    hint = PERMANENT_HINTS.get((code, subcode)) or PERMANENT_HINTS.get(code)
    if declared_permanent(err) and not hint:
        hint = PERMANENT_HINTS["declared_permanent"]
    return f"Meta Ads {at}: {describe(err)}: {hint or 'see the error message'}"
