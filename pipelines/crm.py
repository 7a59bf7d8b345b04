"""Run the CRM pipeline: ``python pipelines/crm.py`` (configured landing location) or ``--demo``."""

from pipelines.cli import script

if __name__ == "__main__":
    script("crm")
