# marketing-dwh — every target bootstraps what it needs (uv, the locked venv) by itself.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# the dbt runner starts `python` from PATH: it must be this venv's
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo dashboard chromium test lint bench clean help

help:
	@echo "make demo   build the whole warehouse offline from the demo world (DuckDB + local Bronze)"
	@echo "make dashboard  open the reporting dashboard on the warehouse (http://127.0.0.1:8501)"
	@echo "make test   lint + every test (installs everything it needs)"
	@echo "make bench  CRM ingestion vs DuckDB's CSV reader; Meta and GA4 through their emulators"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-groups --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced

demo: setup
	$(BIN)/mdw demo

dashboard: setup
	$(BIN)/mdw dashboard

# the browser test drives Debian's chromium through playwright (never `playwright install`)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || ($(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends chromium fonts-liberation)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint transformations --processes 2

test: lint chromium
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m tests.bench.crm_ingest
	$(BIN)/python -m tests.bench.meta_ingest
	$(BIN)/python -m tests.bench.ga4_ingest

clean:
	rm -rf data .pytest_cache transformations/target transformations/logs

