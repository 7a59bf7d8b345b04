"""Run the GA4 pipeline: ``python pipelines/ga4.py`` (real API, credentials from .dlt / ADC) or ``--demo``."""

from pipelines.cli import script

if __name__ == "__main__":
    script("ga4")
