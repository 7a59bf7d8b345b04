"""The prod target offline: Bronze on a GCS emulator, every dbt model compiled for BigQuery and parsed as
BigQuery SQL, and configuration errors that name the setting to fix."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import gcsfs
import pytest
import sqlglot
from dbt.cli.main import dbtRunner
from dlt.common.configuration.specs.gcp_credentials import GcpDefaultCredentials
from google_fakes import GoogleApiFake, gcs_emulator, service_account_info

from conftest import REPO, order_row, write_orders
from marketing_dwh.demo_world import DemoWorld
from marketing_dwh.registry import discover, get
from pipelines.bronze import Backlog, bronze_table
from pipelines.cli import main
from pipelines.dbt_runner import _bigquery_environment, link_packages
from pipelines.targets import TargetConfigError, current_target
from sources.crm.landing import LandingCredentialsError, landing_fs

BUCKET = "mdw-test-bronze"
INCREMENTAL = {"fact_orders", "dim_meta_ads", "fct_ad_performance_daily", "fct_ga4_traffic_daily"}


@pytest.fixture
def google() -> GoogleApiFake:
    fake = GoogleApiFake().start()
    yield fake
    fake.stop()


@pytest.fixture
def local_with_gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The local target on the test's own data dir, with a GCS emulator holding BUCKET (``STORAGE_EMULATOR_HOST``)."""
    with gcs_emulator(BUCKET) as emulator:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
        monkeypatch.chdir(REPO)
        monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("MDW__TARGET", "local")
        yield


@pytest.fixture
def adc(google: GoogleApiFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Application default credentials: a service-account key file whose token endpoint is the fake."""
    # dlt skips looking for ADC for a minute after a failed look-up (another test's): look again
    monkeypatch.setattr(GcpDefaultCredentials, "_LAST_FAILED_DEFAULT", 0.0)
    info = service_account_info("mdw-test-project", f"{google.url}/token")
    path = tmp_path / "adc.json"
    path.write_text(json.dumps(info))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    return info


def test_bronze_on_gcs_is_written_and_read_back(
    adc: dict[str, str], google: GoogleApiFake, local_with_gcs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MDW__TARGETS__LOCAL__BRONZE_URL", f"gs://{BUCKET}/bronze")
    assert main(["run", "crm", "--demo"]) == 0
    files = gcsfs.GCSFileSystem(token="anon").find(f"{BUCKET}/bronze/crm/orders")
    assert files and all(f.endswith(".parquet") for f in files)
    assert google.token_requests > 0  # the real credential flow ran, against the fake token endpoint
    target = current_target()
    orders = len(DemoWorld().order_facts)
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_crm.orders").fetchone() == (orders,)
    # the warehouse rebuilt from the files in the bucket alone
    assert main(["replay", "crm"]) == 0
    with duckdb.connect(str(target.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_crm.orders").fetchone() == (orders,)


def _compile_for_bigquery(
    google: GoogleApiFake, out: Path, monkeypatch: pytest.MonkeyPatch, select: list[str] | None = None
) -> list[Path]:
    info = service_account_info("mdw-test-project", f"{google.url}/token")
    for key in ("project_id", "private_key", "private_key_id", "client_email", "token_uri"):
        monkeypatch.setenv(f"DLT__CREDENTIALS__{key.upper()}", info[key])
    monkeypatch.setenv("DBT_BIGQUERY_API_ENDPOINT", google.url)
    monkeypatch.setenv("DBT_LOG_PATH", str(out / "logs"))
    project = REPO / "transformations"
    # every installed plugin's dbt package, as a build with data from all of them has
    plugins = [p for p in discover().values() if p.dbt_package]
    dbt_vars = link_packages(out / "packages", plugins, plugins)
    monkeypatch.setenv("MDW_DBT_PACKAGES_DIR", str(out / "packages"))
    args = ["compile", "--project-dir", str(project), "--profiles-dir", str(project), "--profile", "bigquery"]
    args += ["--vars", json.dumps(dbt_vars)]
    args += ["--target-path", str(out / "target"), "--no-populate-cache", "--exclude", "resource_type:unit_test"]
    args += ["--select", *select] if select else []
    result = dbtRunner().invoke(args)
    assert result.success, result.exception
    return sorted((out / "target" / "compiled").rglob("*.sql"))


def _parse_all(files: list[Path]) -> None:
    errors = []
    for path in files:
        try:
            sqlglot.parse(path.read_text(), read="bigquery")
        except sqlglot.errors.ParseError as exc:
            errors.append(f"{path.name}: {exc}")
    assert not errors, "\n".join(errors)


def test_every_model_compiles_for_bigquery_and_parses_as_bigquery_sql(
    google: GoogleApiFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a first build: no table exists yet, so incremental models compile their full-build SQL
    files = _compile_for_bigquery(google, tmp_path / "fresh", monkeypatch)
    models = {p.stem for p in files if "models" in p.parts}
    assert {"fact_orders", "mart_orders", "int_orders__attributed", "audit_order_reconciliation"} <= models
    assert len(files) > 100
    _parse_all(files)
    # a later run: the incremental models exist, so their incremental branch (filters on the existing table)
    google.existing_tables.update(("gold", name) for name in INCREMENTAL)
    files = _compile_for_bigquery(google, tmp_path / "incremental", monkeypatch, select=sorted(INCREMENTAL))
    incremental = [p for p in files if p.stem in INCREMENTAL and "models" in p.parts]
    assert len(incremental) == len(INCREMENTAL)
    for path in incremental:
        assert "as existing" in path.read_text(), path.name  # the lookback subquery on the existing table
    _parse_all(files)


def test_prod_settings_errors_name_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "")
    for key in [k for k in os.environ if k.startswith(("DESTINATION__", "DLT__CREDENTIALS__", "CREDENTIALS__"))]:
        monkeypatch.delenv(key)
    # missing bucket
    monkeypatch.delenv("MDW__TARGETS__PROD__BRONZE_URL", raising=False)
    assert main(["--target", "prod", "run", "crm"]) == 2
    assert "mdw.targets.prod.bronze_url is not set" in capsys.readouterr().err
    monkeypatch.setenv("MDW__TARGETS__PROD__BRONZE_URL", "gs:///bronze")
    with pytest.raises(TargetConfigError, match=r"bronze_url = 'gs:///bronze' names no bucket"):
        current_target("prod")
    # wrong project
    monkeypatch.setenv("MDW__TARGETS__PROD__BRONZE_URL", f"gs://{BUCKET}/bronze")
    monkeypatch.setenv("MDW__TARGETS__PROD__PROJECT_ID", "My Marketing Project")
    with pytest.raises(TargetConfigError, match=r"mdw.targets.prod.project_id = 'My Marketing Project'"):
        current_target("prod")
    # missing credentials: one message naming where they go, before anything runs
    monkeypatch.setenv("MDW__TARGETS__PROD__PROJECT_ID", "mdw-prod-123")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server to fall back to
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    assert main(["--target", "prod", "run", "crm"]) == 2
    err = capsys.readouterr().err
    assert "Bronze at gs://mdw-test-bronze/bronze needs Google Cloud credentials" in err
    assert "[destination.credentials]" in err and "GOOGLE_APPLICATION_CREDENTIALS" in err
    assert err.count("\n") <= 2


def test_raw_tables_are_partitioned_by_day_and_clustered_on_bigquery() -> None:
    expected = {
        ("crm", "orders"): ("order_date", ["order_id"]),
        ("meta_ads", "insights"): ("date_start", ["account_id", "campaign_id"]),
        ("meta_ads", "insights_actions"): ("date_start", ["account_id", "ad_id"]),
        ("ga4", "report_traffic_daily"): ("date", ["property_id"]),
        ("ga4", "report_purchases"): ("date", ["property_id"]),
    }
    for (source, table), (partition, cluster) in expected.items():
        spec = get(source).tables[table]
        columns = bronze_table("/nowhere", table, spec, 1, Backlog()).compute_table_schema()["columns"]
        assert columns[partition].get("x-bigquery-partition") is True, (source, table)
        assert [c for c, hints in columns.items() if hints.get("x-bigquery-cluster")] == cluster, (source, table)


def test_dbt_gets_the_warehouse_project_location_and_adc(
    adc: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("MDW__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MDW__TARGETS__PROD__BRONZE_URL", f"gs://{BUCKET}/bronze")
    monkeypatch.setenv("MDW__TARGETS__PROD__PROJECT_ID", "mdw-warehouse-prod")
    monkeypatch.setenv("MDW__TARGETS__PROD__LOCATION", "EU")
    for key in ("MDW_BIGQUERY_PROJECT", "DLT__LOCATION", "DBT_BIGQUERY_METHOD"):
        monkeypatch.delenv(key, raising=False)
    target = current_target("prod")
    target.check_credentials()  # application default credentials satisfy Bronze and BigQuery
    _bigquery_environment(target)
    assert os.environ["MDW_BIGQUERY_PROJECT"] == "mdw-warehouse-prod"
    assert os.environ["DLT__LOCATION"] == "EU"
    assert os.environ["DBT_BIGQUERY_METHOD"] == "oauth"  # no key to export: dbt uses ADC too


def test_a_crm_landing_location_in_a_bucket_is_read_with_application_default_credentials(
    adc: dict[str, str], google: GoogleApiFake, local_with_gcs: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sources.crm.landing_url = "gs://…"`` without ``sources.crm.credentials``: the exports are listed and read
    from the bucket with the environment's credentials (ADC), as on Composer."""
    monkeypatch.setenv("SOURCES__CRM__LANDING_URL", f"gs://{BUCKET}/landing/crm")
    local = tmp_path / "exports"
    local.mkdir()
    write_orders(local / "orders_2026-08-03.csv", [order_row(i) for i in range(25)])
    gcsfs.GCSFileSystem(token="anon").put(str(local / "orders_2026-08-03.csv"), f"{BUCKET}/landing/crm/")
    assert main(["run", "crm"]) == 0
    with duckdb.connect(str(current_target().warehouse_path), read_only=True) as con:
        assert con.execute("select count(*), min(_source_file) from raw_crm.orders").fetchone() == (
            25,
            f"gs://{BUCKET}/landing/crm/orders_2026-08-03.csv",
        )


def test_a_bucket_landing_location_without_any_credentials_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(GcpDefaultCredentials, "_LAST_FAILED_DEFAULT", 0.0)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud login
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google-auth: not on Compute Engine (no metadata server probe)
    with pytest.raises(LandingCredentialsError, match=r"sources\.crm\.credentials"):
        landing_fs(f"gs://{BUCKET}/landing/crm")
