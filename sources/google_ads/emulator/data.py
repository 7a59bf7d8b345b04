"""What the emulator serves: customers (and manager links), campaigns, ad groups, ads and ad group x day metrics.

Campaign x day metrics are the sums of the campaign's ad group rows, as in the real API for Search campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class Customer:
    customer_id: str
    name: str
    currency_code: str
    time_zone: str
    manager: bool = False
    status: str = "ENABLED"
    test_account: bool = False


@dataclass
class CampaignNode:
    customer_id: str
    campaign_id: str
    name: str
    status: str  # ENABLED / PAUSED / REMOVED
    channel_type: str  # SEARCH ...
    start: date
    end: date | None
    budget_micros: int


@dataclass
class AdGroupNode:
    customer_id: str
    campaign_id: str
    ad_group_id: str
    name: str
    status: str
    type: str = "SEARCH_STANDARD"


@dataclass
class AdNode:
    customer_id: str
    campaign_id: str
    ad_group_id: str
    ad_id: str
    name: str
    status: str
    type: str = "RESPONSIVE_SEARCH_AD"


@dataclass
class AdGroupDay:
    campaign_id: str
    ad_group_id: str
    cost_micros: int
    impressions: int
    clicks: int
    conversions: float
    conversions_value: float
    all_conversions: float


@dataclass
class AdsData:
    """Everything served; ``links`` maps a manager's id to its client accounts' ids."""

    customers: dict[str, Customer] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)
    campaigns: list[CampaignNode] = field(default_factory=list)
    ad_groups: list[AdGroupNode] = field(default_factory=list)
    ads: list[AdNode] = field(default_factory=list)
    # (customer_id, day) -> ad group rows of that account-day
    days: dict[tuple[str, date], list[AdGroupDay]] = field(default_factory=dict)

    def restate(self, customer_id: str, day: date, factor: float) -> None:
        """Restated conversions: the conversions (and values) of an account-day change after the fact."""
        for row in self.days.get((customer_id, day), []):
            row.conversions = round(row.conversions * factor, 6)
            row.conversions_value = round(row.conversions_value * factor, 2)
            row.all_conversions = round(row.all_conversions * factor, 6)
