"""Which fields a report runs with on a property: optional custom dimensions the property lacks are left out
(with one warning saying how to register them); unknown or incompatible required fields fail that report alone.
"""

from __future__ import annotations

from google.analytics.data_v1beta.types import CheckCompatibilityRequest, Dimension, GetMetadataRequest, Metric

from sources.ga4.caller import Caller, ReportFailed
from sources.ga4.reports import ReportSpec
from sources.ga4.settings import CUSTOM_DIMENSION_HELP

INCOMPATIBLE = 2  # Compatibility.INCOMPATIBLE


class PropertyFields:
    """Per run: each property's dimension and metric names (``GetMetadata`` lists its custom definitions too)."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller
        self._names: dict[str, set[str]] = {}
        self._checked: set[tuple[str, ...]] = set()

    def names(self, property_id: str) -> set[str]:
        if property_id not in self._names:
            request = GetMetadataRequest(name=f"properties/{property_id}/metadata")
            meta = self.caller.call(self.caller.client.get_metadata, request, property_id, "metadata")
            self._names[property_id] = {d.api_name for d in meta.dimensions} | {m.api_name for m in meta.metrics}
        return self._names[property_id]

    def resolve(self, property_id: str, spec: ReportSpec) -> tuple[ReportSpec, list[str]]:
        """The report to run on this property, and warnings about optional dimensions left out."""
        known = self.names(property_id)
        fields = [*spec.dimensions, *spec.metrics]
        unknown = [f for f in fields if f not in known and f not in spec.optional]
        if unknown:
            raise ReportFailed(
                f"GA4 report '{spec.name}' on property {property_id}: unknown field(s) {', '.join(unknown)} (not in "
                "the property's metadata): fix the report in sources.ga4.reports or register the custom definition"
            )
        missing = [d for d in spec.optional if d in spec.dimensions and d not in known]
        run = spec.without(set(missing))
        self._check_compatibility(property_id, run)
        warnings = [
            f"report {spec.name} on property {property_id} runs without {d}: the property has no such custom "
            "dimension; register it in GA4 Admin > Data display > Custom definitions > Create custom dimension "
            f"({CUSTOM_DIMENSION_HELP.get(d, 'with that name')})"
            for d in missing
        ]
        return run, warnings

    def _check_compatibility(self, property_id: str, spec: ReportSpec) -> None:
        """Fail the report (alone) with the incompatible field names before it first runs on the property."""
        key = (property_id, spec.name, *spec.dimensions, "|", *spec.metrics)
        if key in self._checked:
            return
        request = CheckCompatibilityRequest(
            property=f"properties/{property_id}",
            dimensions=[Dimension(name=d) for d in spec.dimensions],
            metrics=[Metric(name=m) for m in spec.metrics],
        )
        response = self.caller.call(self.caller.client.check_compatibility, request, property_id, f"report {spec.name}")
        # the answer covers every field of the property, judged against the request: keep the report's own
        asked = set(spec.dimensions) | set(spec.metrics)
        bad = [c.dimension_metadata.api_name for c in response.dimension_compatibilities
               if c.compatibility == INCOMPATIBLE]  # fmt: skip
        bad += [c.metric_metadata.api_name for c in response.metric_compatibilities if c.compatibility == INCOMPATIBLE]
        bad = [name for name in bad if name in asked]
        if bad:
            raise ReportFailed(
                f"GA4 report '{spec.name}' on property {property_id}: incompatible field(s) {', '.join(bad)}; "
                "remove them from the report in sources.ga4.reports"
            )
        self._checked.add(key)
