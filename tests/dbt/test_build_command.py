"""``scorecard build``'s summary, read from the session build's run_results.json and marts."""

from __future__ import annotations

import argparse

import pytest

from warehouse.dbt import configure, format_summary, mart_row_counts, read_run_results

pytestmark = pytest.mark.slow

CONTRACT_MARTS = {
    "fct_indicator_progress",
    "fct_index_precise_protection",
    "fct_index_elderly_care",
    "fct_index_charity",
    "fct_index_self_governance",
    "fct_index_warm_services",
    "fct_milestone_status",
    "fct_work_item_status",
    "fct_alerts",
    "dim_zone",
    "dim_indicator",
    "dim_measure",
    "dim_region",
    "dim_period",
    "dim_department",
}


def test_summary_counts_nodes_and_mart_rows(built_warehouse):
    by_status, failures = read_run_results(built_warehouse.tmp / "dbt-target" / "run_results.json")
    assert failures == []
    assert by_status["success"] > 30  # seeds and models
    assert by_status["pass"] > 100  # data tests
    rows = mart_row_counts(built_warehouse.settings)
    assert rows.keys() >= CONTRACT_MARTS
    # 102 regions x 5 years in every index table; 11 cities + 90 counties + 1 province.
    assert rows["fct_index_charity"] == 102 * 5
    assert rows["dim_region"] == 102
    assert all(rows[name] > 0 for name in CONTRACT_MARTS)


def test_summary_text_names_failures_and_marts():
    from collections import Counter

    from warehouse.dbt import BuildSummary

    summary = BuildSummary(
        ok=False,
        returncode=1,
        by_status=Counter({"success": 3, "pass": 5, "fail": 1, "skipped": 2}),
        failures=["test.scorecard.unique_x: Got 2 results"],
        mart_rows={"fct_alerts": 12},
        mode="incremental",
    )
    text = format_summary(summary)
    assert text.startswith("dbt build (incremental) FAILED (exit 1): 8 passed, 1 failed, 2 skipped")
    assert "FAILED test.scorecard.unique_x" in text
    assert "fct_alerts" in text and "12" in text


def test_build_command_accepts_a_selection():
    parser = argparse.ArgumentParser()
    configure(parser)
    assert parser.parse_args(["--select", "marts"]).select == "marts"
    assert parser.parse_args([]).select is None
