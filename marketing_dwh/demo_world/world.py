"""The ``DemoWorld``: one seeded demo shop that every source plugin renders its own data from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from random import Random

from marketing_dwh.demo_world.campaigns import AdAccount, Campaign, build_ad_accounts, build_campaigns
from marketing_dwh.demo_world.customers import Customer, CustomerBase, OrderFact, build_customers
from marketing_dwh.demo_world.delivery import AdDelivery, build_delivery


@dataclass(frozen=True)
class DemoWorld:
    """A deterministic demo shop: same ``seed``/``scale``/``start``/``days`` -> identical data on any machine.

    The world defines what happened once: the days, the ad accounts and campaigns, the customers and their
    orders, and what each paid campaign delivered per day. It renders no source's data: each plugin renders its
    slice from it (``sources/crm/demo.py`` the CSV exports, ``sources/meta_ads/demo.py`` the Graph API objects,
    ``sources/ga4/demo.py`` the report rows ...), so the sources agree with each other whichever are installed.

    ``scale`` multiplies contacts, orders, budgets and traffic; campaigns stay the same ten. Parts are built
    lazily and cached; treat the returned lists as read-only.
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

    # --- ad accounts and campaigns --------------------------------------------------------------------
    @cached_property
    def ad_accounts(self) -> list[AdAccount]:
        """Every ad platform account (Meta EU and US, Google Ads, Criteo)."""
        return build_ad_accounts(Random(f"demo-world/{self.seed}/accounts"), self.start)

    def accounts(self, platform: str) -> list[AdAccount]:
        return [a for a in self.ad_accounts if a.platform == platform]

    @cached_property
    def campaigns(self) -> list[Campaign]:
        """All campaigns (Meta, Google Ads, Criteo display, e-mail)."""
        rng = Random(f"demo-world/{self.seed}/campaigns")
        return build_campaigns(rng, self.scale, self.start, self.days, self.ad_accounts)

    def campaigns_on(self, platform: str) -> list[Campaign]:
        return [c for c in self.campaigns if c.platform == platform]

    def campaign(self, campaign_id: str) -> Campaign:
        return self._campaign_by_id[campaign_id]

    @cached_property
    def _campaign_by_id(self) -> dict[str, Campaign]:
        return {c.campaign_id: c for c in self.campaigns}

    @cached_property
    def delivery(self) -> dict[tuple[str, date], AdDelivery]:
        """(campaign id, day) -> what a paid campaign delivered that day (spend, impressions, clicks, visits)."""
        return build_delivery(self.seed, self.start, self.days, self.campaigns)

    # --- customers and orders -------------------------------------------------------------------------
    @cached_property
    def _customer_base(self) -> CustomerBase:
        return build_customers(self.seed, self.scale, self.start, self.days, self.campaigns)

    @property
    def customers(self) -> list[Customer]:
        """The shop's contacts, in sign-up (``contact_id``) order."""
        return self._customer_base.customers

    @property
    def order_facts(self) -> list[OrderFact]:
        """Their orders, in time order, with typed values (aware UTC instant, amount in minor units ...)."""
        return self._customer_base.orders
