"""Deterministic demo world: coherent CRM, Meta Ads and GA4 data for the offline sandbox.

world = DemoWorld(seed=42, scale=1.0)
world.orders, world.contacts                 # CRM export rows (CSV strings)
world.campaigns, world.meta_insights_daily   # what the Meta emulator serves
world.ga4_purchases, world.ga4_traffic_daily # what the GA4 emulator serves
write_crm_landing(world, Path("data/landing/crm"))
write_bench_orders(Path(".bench/crm"), n_orders=1_000_000, n_files=10)
"""

from sources.demo_world.bench import write_bench_orders
from sources.demo_world.campaigns import Campaign, MetaAccount
from sources.demo_world.crm import OrderFact
from sources.demo_world.ga4 import session_key
from sources.demo_world.landing import write_crm_landing
from sources.demo_world.meta import ACTION_TYPES, PURCHASE_TYPES, WINDOWS, MetaAd, MetaAdSet, MetaCreative
from sources.demo_world.world import DemoWorld

__all__ = [
    "ACTION_TYPES",
    "PURCHASE_TYPES",
    "WINDOWS",
    "Campaign",
    "DemoWorld",
    "MetaAccount",
    "MetaAd",
    "MetaAdSet",
    "MetaCreative",
    "OrderFact",
    "session_key",
    "write_bench_orders",
    "write_crm_landing",
]
