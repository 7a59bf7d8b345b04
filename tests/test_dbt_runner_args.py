"""Which arguments the pipeline's dbt commands get: scheduled builds leave dbt's unit tests out unless asked."""

from __future__ import annotations

import pytest

from pipelines.dbt_runner import without_unit_tests

EXCLUDED = ["--exclude-resource-type", "unit_test"]


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("build", [], EXCLUDED),
        ("test", ["--exclude", "tag:critical"], ["--exclude", "tag:critical", *EXCLUDED]),
        ("test", ["--select", "tag:critical"], ["--select", "tag:critical", *EXCLUDED]),
        # the caller chose the resource types: left as they are
        ("build", ["--resource-type", "seed", "--resource-type", "model"], ["--resource-type", "seed",
                                                                            "--resource-type", "model"]),
        ("build", ["--exclude-resource-type=snapshot"], ["--exclude-resource-type=snapshot"]),
        # commands that run no tests
        ("run", ["--select", "fqn:*.marts.*"], ["--select", "fqn:*.marts.*"]),
        ("source", ["freshness"], ["freshness"]),
    ],
)  # fmt: skip
def test_a_pipeline_build_leaves_out_unit_tests_unless_resource_types_are_chosen(
    command: str, args: list[str], expected: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_EXCLUDE_RESOURCE_TYPES", raising=False)
    monkeypatch.delenv("DBT_RESOURCE_TYPES", raising=False)
    assert without_unit_tests(command, list(args)) == expected


@pytest.mark.parametrize("variable", ["DBT_EXCLUDE_RESOURCE_TYPES", "DBT_RESOURCE_TYPES"])
def test_dbts_own_resource_type_variables_win(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "test")
    assert without_unit_tests("build", []) == []
