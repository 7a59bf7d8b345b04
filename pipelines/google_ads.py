"""Run the Google Ads pipeline: ``python pipelines/google_ads.py`` (real API, credentials from .dlt) or ``--demo``."""

from pipelines.cli import script

if __name__ == "__main__":
    script("google_ads")
