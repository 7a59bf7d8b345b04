"""Run the Meta Ads pipeline: ``python pipelines/meta_ads.py`` (real API, credentials from .dlt) or ``--demo``."""

from pipelines.cli import script

if __name__ == "__main__":
    script("meta_ads")
