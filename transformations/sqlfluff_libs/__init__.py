"""Lint-time stand-ins for dbt's Jinja namespaces (used by sqlfluff's jinja templater only, never by dbt)."""
