"""Google API errors as the Data API answers them: ``{"error": {"code", "message", "status"}}``."""

from __future__ import annotations

from typing import Any

from sources.ga4.emulator import fixtures

SCHEMA_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
EXPLORER_URL = "https://ga-dev-tools.google/ga4/dimensions-metrics-explorer/"
PROPERTY_ID_URL = "https://developers.google.com/analytics/devguides/reporting/data/v1/property-id"


class ApiError(Exception):
    def __init__(self, http_status: int, status: str, message: str, html: str | None = None) -> None:
        super().__init__(message)
        self.http_status, self.status, self.message = http_status, status, message
        self.html = html  # a proxy's HTML error page instead of Google's JSON error

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def unknown_field(name: str, kind: str) -> ApiError:
    return invalid(f"Field {name} is not a valid {kind}. For a list of valid dimensions and metrics, see {SCHEMA_URL}")


def unregistered_dimension(name: str) -> ApiError:
    """A custom dimension the property has not registered (recorded body: ``fixtures/errors``)."""
    body = fixtures.load("errors")["missing_custom_dimension"]["error"]
    return ApiError(body["code"], body["status"], body["message"].replace("{name}", name))


def incompatible(name: str) -> ApiError:
    return invalid(
        f"Please remove {name} to make the request compatible. The request's dimensions & metrics are incompatible."
        f" To learn more, see {EXPLORER_URL}"
    )


def permission_denied() -> ApiError:
    return ApiError(
        403,
        "PERMISSION_DENIED",
        f"User does not have sufficient permissions for this property. To learn more about Property ID, see "
        f"{PROPERTY_ID_URL}.",
    )
