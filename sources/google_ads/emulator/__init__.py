"""Offline Google Ads API for the sandbox, tests and benchmarks (see ``server.py``)."""

from sources.google_ads.emulator.data import AdGroupDay, AdGroupNode, AdNode, AdsData, CampaignNode, Customer
from sources.google_ads.emulator.server import Fault, GoogleAdsEmulator, LoopbackTransport, failure

__all__ = [
    "AdGroupDay",
    "AdGroupNode",
    "AdNode",
    "AdsData",
    "CampaignNode",
    "Customer",
    "Fault",
    "GoogleAdsEmulator",
    "LoopbackTransport",
    "failure",
]
