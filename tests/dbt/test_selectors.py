"""The file-triggered build's selectors (dbt_project/selectors.yml), as dbt resolves them: each
narrowed one is exactly ``after_submission`` less what only the raw tables that did not move feed
(warehouse/dbt.py picks one by the raw tables that moved; tests/test_build_modes.py shows which)."""

from __future__ import annotations

import json

import pytest

from scorecard.core.settings import Settings
from warehouse.dbt import INCREMENTAL_SELECTOR, INCREMENTAL_SELECTORS, run_dbt

pytestmark = pytest.mark.slow

# The raw tables each selector starts from (besides the ledger and quarantine, always in).
DATA_SOURCES = {
    INCREMENTAL_SELECTORS[(True, True)]: ("submissions", "status_reports"),
    INCREMENTAL_SELECTORS[(True, False)]: ("submissions",),
    INCREMENTAL_SELECTORS[(False, True)]: ("status_reports",),
    INCREMENTAL_SELECTORS[(False, False)]: (),
}
KINDS = ["--resource-type", "model", "--resource-type", "test"]


def _listed(settings: Settings, *args: str) -> list[str]:
    result = run_dbt(["ls", *args, "--output", "json", "-q"], settings)
    assert result.ok, (result.stdout + result.stderr)[-3000:]
    return [line for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def nodes(built_warehouse) -> dict[str, dict]:
    """unique_id -> dbt's listing (depends_on, config) of every model and test."""
    listed = [json.loads(line) for line in _listed(built_warehouse.settings, *KINDS)]
    return {node["unique_id"]: node for node in listed}


@pytest.fixture(scope="module")
def graph(nodes) -> dict[str, set[str]]:
    """unique_id -> the nodes and sources it depends on, for every model and test."""
    return {uid: set(node["depends_on"]["nodes"]) for uid, node in nodes.items()}


def _downstream(graph: dict[str, set[str]], sources: set[str]) -> set[str]:
    found: set[str] = set()
    frontier = {f"source.scorecard.raw.{name}" for name in sources}
    while frontier:
        frontier = {node for node, parents in graph.items() if parents & frontier} - found
        found |= frontier
    return found


@pytest.mark.parametrize("selector", sorted(DATA_SOURCES))
def test_each_selector_is_the_file_build_less_what_unmoved_tables_alone_feed(
    built_warehouse, graph, selector: str
) -> None:
    def selected(name: str) -> set[str]:
        return {
            json.loads(line)["unique_id"]
            for line in _listed(built_warehouse.settings, "--selector", name, *KINDS)
        }

    everything = selected(INCREMENTAL_SELECTOR) if selector != INCREMENTAL_SELECTOR else None
    chosen = selected(selector)
    fed = _downstream(graph, {*DATA_SOURCES[selector], "file_ledger", "quarantine"})
    if everything is None:  # after_submission itself: everything the four raw tables feed
        assert chosen <= fed
        assert "model.scorecard.int_status_reports_carried_forward" in chosen
        assert "model.scorecard.stg_raw__submissions_latest" in chosen
        return
    assert chosen == everything & fed
    if selector == INCREMENTAL_SELECTORS[(True, False)]:  # a values file
        assert "model.scorecard.fct_alerts" in chosen  # it reads the progress and the milestones
        assert "model.scorecard.fct_work_item_status" not in chosen
        assert "model.scorecard.int_status_reports_carried_forward" not in chosen
    if selector == INCREMENTAL_SELECTORS[(False, True)]:  # a status-report file
        assert "model.scorecard.fct_milestone_status" in chosen
        assert "model.scorecard.stg_raw__submissions_latest" not in chosen


def test_incremental_models_fed_by_other_raw_tables_rebuild_those_rows_in_every_build(nodes, graph) -> None:
    """An incremental model recomputes the measures whose raw.submissions rows moved
    (macros/incremental/measure_versions.sql). One that another raw table also feeds (fct_alerts:
    the status reports through the milestones, the ledger through the deadlines) would keep stale
    rows after a file of that table, unless it rebuilds them in every build (rebuild_always)."""
    others = {"status_reports", "file_ledger", "quarantine"}
    fed = {name: _downstream(graph, {name}) for name in others}
    incremental = {
        uid
        for uid, node in nodes.items()
        if node["resource_type"] == "model"
        and node["config"].get("materialized") == "incremental"
        and node["config"].get("incremental_strategy") == "replace_measures"
    }
    assert "model.scorecard.fct_alerts" in incremental
    for uid in incremental:
        feeding = {name for name in others if uid in fed[name]}
        if feeding:
            assert nodes[uid]["config"].get("rebuild_always"), (uid, feeding)
