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
# bytecode compiled once at install: every process starts without compiling ~2,700 modules (and works where
# PYTHONDONTWRITEBYTECODE is set)
export UV_COMPILE_BYTECODE := 1
# the dbt runner starts `python` from PATH: it must be this venv's
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup demo dashboard chromium test lint bench clean help airflow airflow-password airflow-stop

help:
	@echo "make demo   build the whole warehouse offline from the demo world (DuckDB + local Bronze)"
	@echo "make dashboard  open the reporting dashboard on the warehouse (http://127.0.0.1:8501)"
	@echo "make test   lint + every test (installs everything it needs)"
	@echo "make bench  each figure beside its in-run reference (CRM vs DuckDB's CSV reader, the APIs through their emulators); writes the README's tables"
	@echo "make airflow  local Airflow (standalone, SQLite) with the project's DAGs (http://127.0.0.1:8080)"
	@echo "make airflow-stop  stop it (all components)"

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
	$(BIN)/sqlfluff lint transformations $(wildcard sources/*/dbt) --processes 2

test: lint chromium
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: setup
	$(BIN)/python -m tests.bench.crm_ingest
	$(BIN)/python -m tests.bench.meta_ingest
	$(BIN)/python -m tests.bench.ga4_ingest
	$(BIN)/python -m tests.bench.google_ads_ingest
	$(BIN)/python -m tests.bench.demo_build
	$(BIN)/python -m tests.bench.readme

clean:
	rm -rf data .pytest_cache transformations/target transformations/logs

# Local Airflow: the components of `airflow standalone` (scheduler, dag-processor, triggerer, API server + UI;
# LocalExecutor on SQLite) started by airflow_dags/mdw_airflow/local.py, which stops them all on Ctrl-C, SIGTERM or
# `make airflow-stop`, and serves task logs on 127.0.0.1 only; with the project's DAGs, sized for a 2-core machine.
# dbt_transform and mdw_monitoring are unpaused; the ingest DAGs stay paused (unpaused, a DAG waits for its next cron time:
# no run for a time that passed). The admin password is generated once into
# data/airflow/simple_auth_manager_passwords.json.generated (MDW_DATA=<dir> moves data/); mail goes to smtp://127.0.0.1:1025 unless
# AIRFLOW_CONN_SMTP_DEFAULT is set (watch it with: .venv/bin/python -m aiosmtpd -n -l 127.0.0.1:1025).
AIRFLOW_PORT ?= 8080
ALERT_EMAIL ?= data-team@example.com
MDW_DATA ?= $(CURDIR)/data
airflow: export AIRFLOW_HOME := $(MDW_DATA)/airflow
airflow-stop: export AIRFLOW_HOME := $(MDW_DATA)/airflow
airflow-stop: export PYTHONPATH := $(CURDIR)/airflow_dags
airflow: export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/airflow_dags
airflow: export AIRFLOW__CORE__LOAD_EXAMPLES := False
airflow: export AIRFLOW__CORE__PARALLELISM := 4
airflow: export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG := 2
airflow: export AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG := 1
airflow: export AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES := 1
airflow: export AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL := 300
airflow: export AIRFLOW__API__HOST := 127.0.0.1
airflow: export AIRFLOW__API__PORT := $(AIRFLOW_PORT)
airflow: export AIRFLOW__API__BASE_URL := http://127.0.0.1:$(AIRFLOW_PORT)
airflow: export AIRFLOW__CORE__EXECUTOR := LocalExecutor
# local: the ingest DAGs' runs (scheduled ones too) use the plugins' offline sandboxes unless {"demo": false}
airflow: export MDW__AIRFLOW__DEMO_DEFAULT := true
airflow: export MDW__DATA_DIR := $(MDW_DATA)
airflow: export MDW_PROJECT_ROOT := $(CURDIR)
# the triggerer imports the Deadline Alert callback (mdw_airflow.alerts) outside any DAG bundle
airflow: export PYTHONPATH := $(CURDIR)/airflow_dags
# the admin password file, created readable by its owner only (0600; an older, wider file is narrowed)
AIRFLOW_PWFILE = $(MDW_DATA)/airflow/simple_auth_manager_passwords.json.generated
airflow-password:
	@mkdir -p $(dir $(AIRFLOW_PWFILE))
	@[ -f $(AIRFLOW_PWFILE) ] || $(BIN)/python -c "import json, os, secrets, sys; \
	fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); \
	os.write(fd, json.dumps({'admin': secrets.token_urlsafe(12)}).encode()); os.close(fd)" $(AIRFLOW_PWFILE)
	@chmod 600 $(AIRFLOW_PWFILE)

airflow: setup
	@mkdir -p $$AIRFLOW_HOME
	$(BIN)/airflow db migrate >/dev/null
	$(BIN)/airflow pools set mdw_duckdb_writer 1 "one writer at a time on the local DuckDB warehouse" >/dev/null
	$(BIN)/airflow variables set alert_email "$(ALERT_EMAIL)" >/dev/null
	@$(MAKE) --no-print-directory airflow-password MDW_DATA=$(MDW_DATA)
	@pwfile=$(AIRFLOW_PWFILE); \
	password=$$($(BIN)/python -c "import json,sys; print(json.load(open(sys.argv[1]))['admin'])" $$pwfile); \
	export AIRFLOW_CONN_MDW_AIRFLOW_API="http://admin:$$password@127.0.0.1:$(AIRFLOW_PORT)"; \
	export AIRFLOW_CONN_SMTP_DEFAULT="$${AIRFLOW_CONN_SMTP_DEFAULT:-smtp://127.0.0.1:1025?disable_tls=true&disable_ssl=true&from_email=mdw-airflow%40localhost}"; \
	echo "Airflow UI + REST API: http://127.0.0.1:$(AIRFLOW_PORT)  login: admin / password in $$pwfile"; \
	echo "DAGs: $$AIRFLOW__CORE__DAGS_FOLDER  pool: mdw_duckdb_writer (1 slot)  alert_email: $(ALERT_EMAIL)"; \
	$(BIN)/airflow dags reserialize >/dev/null 2>&1; \
	$(BIN)/airflow dags unpause -y --treat-dag-id-as-regex '^(dbt_transform|mdw_monitoring)$$' >/dev/null; \
	echo "unpaused: dbt_transform, mdw_monitoring; ingest_* paused (trigger them: see README, Orchestration)"; \
	exec $(BIN)/python -m mdw_airflow.local start

airflow-stop:
	$(BIN)/python -m mdw_airflow.local stop
