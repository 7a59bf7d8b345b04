"""The shared demo world: one seeded shop whose customers, campaigns and days every source renders from.

world = DemoWorld(seed=42, scale=1.0)
world.customers, world.order_facts      # the shop's contacts and orders (typed facts)
world.campaigns, world.ad_accounts      # campaigns on every platform, the accounts they run in
world.delivery                          # spend, impressions, clicks, visits per paid campaign and day

Each source plugin renders its own slice in its folder (``sources/<plugin>/demo.py``): the CRM its CSV exports,
Meta its Graph API objects and insights, GA4 its report rows.
"""

from marketing_dwh.demo_world.campaigns import AdAccount, Campaign, MetaIds
from marketing_dwh.demo_world.customers import Customer, OrderFact
from marketing_dwh.demo_world.delivery import PAID_PLATFORMS, AdDelivery, split_exact
from marketing_dwh.demo_world.world import DemoWorld

__all__ = [
    "PAID_PLATFORMS",
    "AdAccount",
    "AdDelivery",
    "Campaign",
    "Customer",
    "DemoWorld",
    "MetaIds",
    "OrderFact",
    "split_exact",
]
