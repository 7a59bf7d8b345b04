"""The emulator's gRPC frontend builds report rows with the protobuf constructors (``proto_response``): whatever the
JSON answer holds, the message must be the one the SDK's own ``from_json`` reads from it, or the same error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.analytics.data_v1beta import types
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sources.ga4.emulator.grpc_server import proto_response

# mostly the shapes the emulator answers (string values), sometimes what a fault or a recorded fixture might hold
_VALUE = st.one_of(st.text(max_size=12), st.none(), st.integers(-5, 5), st.booleans())
_CELL = st.one_of(
    st.fixed_dictionaries({"value": st.text(max_size=12)}),
    st.dictionaries(st.sampled_from(["value", "oneValue", "unknownField"]), _VALUE, max_size=2),
)
_ROW = st.one_of(
    st.fixed_dictionaries(
        {"dimensionValues": st.lists(_CELL, max_size=4), "metricValues": st.lists(_CELL, max_size=4)}
    ),
    st.dictionaries(
        st.sampled_from(["dimensionValues", "metricValues", "extra"]), st.lists(_CELL, max_size=2), max_size=3
    ),
)
_REPORT = st.fixed_dictionaries(
    {
        "dimensionHeaders": st.lists(st.fixed_dictionaries({"name": st.text(max_size=8)}), max_size=3),
        "metricHeaders": st.lists(
            st.fixed_dictionaries({"name": st.text(max_size=8), "type": st.integers(0, 3)}), max_size=3
        ),
        "rows": st.lists(_ROW, max_size=6),
        "rowCount": st.integers(0, 100),
        "metadata": st.fixed_dictionaries({"currencyCode": st.sampled_from(["EUR", "USD"])}),
        "kind": st.just("analyticsData#runReport"),
    }
)


def _sdk(response_type: Any, payload: dict[str, Any]) -> Any:
    """What the SDK reads from the JSON answer: the message, or the error type it raises."""
    try:
        return response_type.pb(response_type.from_json(json.dumps(payload), ignore_unknown_fields=True))
    except Exception as exc:
        return type(exc)


def _ours(response_type: Any, payload: dict[str, Any]) -> Any:
    try:
        return proto_response(response_type, payload)
    except Exception as exc:
        return type(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_REPORT)
@example({"rows": [{"dimensionValues": [{"value": "20260801"}], "metricValues": [{"value": "12"}]}], "rowCount": 1})
@example({"rows": [{"dimensionValues": [{"value": 7}]}]})  # a number where the API sends a string
@example({"rows": [{"dimensionValues": [{"value": None}]}]})
@example({"rows": [{"dimensionValues": [{"oneValue": "x"}]}]})  # a field the fast path does not know
@example({"rows": ["not an object"]})
def test_run_report_rows_read_as_the_sdk_reads_them(report: dict[str, Any]) -> None:
    assert _ours(types.RunReportResponse, report) == _sdk(types.RunReportResponse, report)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_REPORT, max_size=5))
def test_batch_reports_rows_read_as_the_sdk_reads_them(reports: list[dict[str, Any]]) -> None:
    payload = {"reports": reports, "kind": "analyticsData#batchRunReports"}
    assert _ours(types.BatchRunReportsResponse, payload) == _sdk(types.BatchRunReportsResponse, payload)


@pytest.mark.parametrize(
    ("response_type", "payload"),
    [
        (types.Metadata, {"name": "properties/1/metadata", "dimensions": [{"apiName": "date"}]}),
        (types.CheckCompatibilityResponse, {"dimensionCompatibilities": [{"compatibility": 1}]}),
    ],
)
def test_other_answers_read_by_the_sdk(response_type: Any, payload: dict[str, Any]) -> None:
    message = proto_response(response_type, payload)
    assert message == _sdk(response_type, payload) and message.ByteSize() > 0
