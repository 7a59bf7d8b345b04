"""The ``DemoWorld``: one seeded, coherent data set for the CRM, Meta Ads and GA4 sandboxes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from random import Random
from typing import Any

from sources.demo_world.campaigns import Campaign, MetaAccount, build_campaigns, build_meta_accounts
from sources.demo_world.crm import CrmData, OrderFact, build_crm
from sources.demo_world.ga4 import Ga4Data, build_ga4
from sources.demo_world.meta import MetaAd, MetaAdSet, MetaCreative, MetaData, build_meta


@dataclass(frozen=True)
class DemoWorld:
    """A deterministic demo shop: same ``seed``/``scale``/``start``/``days`` -> identical data on any machine.

    ``scale`` multiplies contacts, orders, budgets and traffic; campaigns stay the same ten. Parts are built
    lazily and cached; treat the returned lists as read-only.

    Value conventions follow each system: CRM rows hold the exact CSV strings of the export; Meta objects are
    typed dataclasses and insight rows use Graph API field names with Python numbers (dates ``YYYY-MM-DD``);
    GA4 rows use GA4's ``YYYYMMDD`` dates and Python numbers.
    """

    seed: int = 42
    scale: float = 1.0
    start: date = date(2026, 8, 1)
    days: int = 92

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"DemoWorld scale must be positive, got {self.scale!r}")
        if self.days < 1:
            raise ValueError(f"DemoWorld days must be at least 1, got {self.days!r}")

    @property
    def end(self) -> date:
        """Last day of the window (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    # --- campaigns and accounts -------------------------------------------------------------------
    @cached_property
    def meta_accounts(self) -> list[MetaAccount]:
        return build_meta_accounts(Random(f"demo-world/{self.seed}/accounts"), self.start)

    @cached_property
    def campaigns(self) -> list[Campaign]:
        """All campaigns (Meta, Google Ads, Criteo display, e-mail)."""
        rng = Random(f"demo-world/{self.seed}/campaigns")
        return build_campaigns(rng, self.scale, self.start, self.days, self.meta_accounts)

    @cached_property
    def meta_campaigns(self) -> list[Campaign]:
        return [c for c in self.campaigns if c.platform == "meta"]

    def campaign(self, campaign_id: str) -> Campaign:
        return next(c for c in self.campaigns if c.campaign_id == campaign_id)

    # --- CRM ----------------------------------------------------------------------------------------
    @cached_property
    def _crm(self) -> CrmData:
        return build_crm(self.seed, self.scale, self.start, self.days, self.campaigns)

    @property
    def contacts(self) -> list[dict[str, str]]:
        """CRM contacts, keys = ``sources.crm.settings.CONTACT_COLUMNS``, in ``contact_id`` order."""
        return self._crm.contacts

    @property
    def orders(self) -> list[dict[str, str]]:
        """CRM orders, keys = ``sources.crm.settings.ORDER_COLUMNS``, in time order."""
        return self._crm.orders

    @property
    def order_facts(self) -> list[OrderFact]:
        """The orders with typed values (aware UTC instant, amount in cents, ...)."""
        return self._crm.facts

    # --- Meta Ads -----------------------------------------------------------------------------------
    @cached_property
    def _meta(self) -> MetaData:
        return build_meta(self.seed, self.start, self.days, self.meta_accounts, self.campaigns, self.order_facts)

    @property
    def meta_adsets(self) -> list[MetaAdSet]:
        return self._meta.adsets

    @property
    def meta_ads(self) -> list[MetaAd]:
        return self._meta.ads

    @property
    def meta_creatives(self) -> list[MetaCreative]:
        return self._meta.creatives

    @property
    def meta_insights_daily(self) -> list[dict[str, Any]]:
        """Ad x day insight rows with ``actions`` / ``action_values`` / ``cost_per_action_type`` per window."""
        return self._meta.insights

    # --- GA4 ----------------------------------------------------------------------------------------
    @cached_property
    def _ga4(self) -> Ga4Data:
        return build_ga4(
            self.seed, self.scale, self.start, self.days, self.campaigns, self.order_facts, self.meta_insights_daily
        )

    @property
    def ga4_purchases(self) -> list[dict[str, Any]]:
        """GA4 purchase events (about 90% of orders), in time order."""
        return self._ga4.purchases

    @property
    def ga4_traffic_daily(self) -> list[dict[str, Any]]:
        """Sessions etc. per date x source x medium x campaign."""
        return self._ga4.traffic
