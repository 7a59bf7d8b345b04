"""Graph API error bodies: ``{"error": {"message", "type", "code", "error_subcode", "is_transient", ...}}``."""

from __future__ import annotations

import itertools
from typing import Any

# codes a client may retry (api-notes.md); everything else is permanent
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 960, *range(80000, 80015)})

RATE_LIMIT_URL = "https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
DEFAULT_MESSAGES = {
    1: "An unknown error occurred",
    2: "Service temporarily unavailable",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    104: "An access token is required to request this resource.",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Ad account owner has NOT grant ads_management or ads_read permission",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    960: "Request was cancelled: too many requests in this batch are in flight",
}
EXPIRED_TOKEN_MESSAGE = "Error validating access token: Session has expired"
REDUCE_DATA_MESSAGE = "Please reduce the amount of data you're asking for, then retry your request"

_trace_ids = itertools.count(1)


def default_message(code: int, subcode: int | None = None) -> str:
    if code == 190 and subcode == 463:
        return EXPIRED_TOKEN_MESSAGE
    if 80000 <= code <= 80014:
        return (
            f"(#{code}) There have been too many calls from this ad-account. Wait a bit and try again. "
            f"For more info, please refer to {RATE_LIMIT_URL}."
        )
    return DEFAULT_MESSAGES.get(code, f"(#{code}) An error occurred")


class GraphError(Exception):
    """An error the emulator answers with; ``body()`` is what goes on the wire."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        subcode: int | None = None,
        http_status: int = 400,
        is_transient: bool | None = None,
        error_type: str | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        self.code, self.subcode = code, subcode
        self.message = message or default_message(code, subcode)
        super().__init__(self.message)
        self.http_status = http_status
        self.is_transient = (code in TRANSIENT_CODES or http_status >= 500) if is_transient is None else is_transient
        self.error_type = error_type or ("GraphMethodException" if subcode == 33 else "OAuthException")
        self.user_title, self.user_msg = user_title, user_msg

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title:
            error["error_user_title"] = self.user_title
        if self.user_msg:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = f"Emu{next(_trace_ids):09d}"
        return {"error": error}


def invalid_param(message: str) -> GraphError:
    """Error 100 (permanent): a parameter or field the API does not accept."""
    return GraphError(100, message if message.startswith("(#100)") else f"(#100) {message}")


def unsupported(method: str, object_id: str) -> GraphError:
    """Error 100/33: the node does not exist (or this token may not see it)."""
    return GraphError(
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be loaded due "
        "to missing permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        subcode=33,
    )
