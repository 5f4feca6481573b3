"""The quality gate and the anomaly scores, on the hand-made warehouse (tests/quality/conftest.py)."""

from __future__ import annotations

import json

import duckdb

from quality.gate import contract_files, latest_results, run_gate
from scorecard.core.settings import Settings
from tests.quality.conftest import GATE_ONLY, INJECTED


def test_every_raw_table_has_a_contract() -> None:
    from scorecard.core.raw_layer import RAW_TABLES

    raw = {p.name.removesuffix(".contract.yml") for stage, p in contract_files(("raw",))}
    assert raw == set(RAW_TABLES)


def test_clean_data_passes_and_nothing_is_severe(home_settings: Settings) -> None:
    gate = run_gate(home_settings, only=GATE_ONLY)
    assert gate.ok, [(r.dataset, r.check, r.outcome, r.diagnostic) for r in gate.failures]
    assert not [a for a in gate.anomalies if a.severity == "severe"]
    contracts = {r.contract for r in gate.results}
    assert contracts == {c.split("/")[1] for c in GATE_ONLY}
    # Stored for publication and alerts.
    stored = latest_results(home_settings)
    assert stored is not None and stored.run_id == gate.run_id and stored.ok


def test_injected_anomalies_fail_the_gate_and_are_named(injected_settings: Settings) -> None:
    gate = run_gate(injected_settings, only=GATE_ONLY)
    assert not gate.ok
    failed = {(r.dataset, r.check) for r in gate.failures}
    assert ("marts.fct_value_anomalies", "no severe anomaly (10x jumps, collapses, far from peers)") in failed
    severe = {(a.measure_code, a.region_code, a.period): a for a in gate.anomalies if a.severity == "severe"}
    for key in INJECTED:
        assert key in severe, f"{key} ({INJECTED[key]}) not flagged"
        assert severe[key].reason_en and severe[key].reason_zh
    assert "10" in severe[("CH01A", "330102", "2025")].reason_en  # ~10x the previous period
    assert "points" in severe[("PP03A", "330105", "2025")].reason_en
    assert "robust z" in severe[("PP01", "330106", "2025")].reason_en


def test_anomaly_scores_explain_each_rule(injected_settings: Settings) -> None:
    with duckdb.connect(str(injected_settings.warehouse_path), read_only=True) as con:
        row = con.execute(
            "select change_ratio, change_level, change_points, robust_z, peer_level, severity "
            "from marts.fct_value_anomalies where measure_code = 'CH01A' and region_code = '330102' "
            "and period = '2025'"
        ).fetchone()
        rate = con.execute(
            "select change_points, change_level, trajectory_level from marts.fct_value_anomalies "
            "where measure_code = 'PP03A' and region_code = '330105' and period = '2025'"
        ).fetchone()
        keys = con.execute(
            "select count(*), count(distinct anomaly_id) from marts.fct_value_anomalies"
        ).fetchone()
    change_ratio, change_level, change_points, robust_z, peer_level, severity = row
    assert 9 < change_ratio < 11 and change_level == "severe" and change_points is None
    assert robust_z > 6 and peer_level == "severe" and severity == "severe"
    assert rate[0] < -80 and rate[1] == "severe" and rate[2] == "severe"
    assert keys[0] == keys[1] == 90 * 3 * 5


def test_broken_warehouse_is_an_error_not_a_pass(home_settings: Settings) -> None:
    with duckdb.connect(str(home_settings.warehouse_path)) as con:
        con.execute("alter table raw.submissions drop column note")
    gate = run_gate(home_settings, only=["raw/submissions"])
    assert not gate.ok
    assert any(
        r.check == "submissions has the contracted columns" and r.outcome == "fail" for r in gate.results
    )


def test_missing_warehouse_fails(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path / "empty"))
    gate = run_gate(write=False)
    assert not gate.ok and gate.results[0].outcome == "error"


def test_late_department_warns_without_failing(home_settings: Settings) -> None:
    # elderly_care (quarterly, 15 days) has nothing for 2025-Q4, due 2026-01-15 = AS_OF.
    gate = run_gate(home_settings, only=["raw/submissions"])
    deadline = [r for r in gate.results if r.check.startswith("each department's latest due period")]
    assert len(deadline) == 1 and deadline[0].outcome == "warn"
    departments = {s["department_code"] for s in deadline[0].samples}
    assert "elderly_care" in departments and "social_assistance" not in departments
    assert gate.ok


def test_check_cli_prints_table_and_exits_zero_when_the_gate_passes(home_settings: Settings, capsys) -> None:
    from scorecard.cli import main

    assert main(["check", *[arg for c in GATE_ONLY for arg in ("--contract", c)]]) == 0
    out = capsys.readouterr().out
    assert "check 检查" in out and "Quality gate PASSED" in out


def test_check_cli_exits_non_zero_on_failure(injected_settings: Settings, capsys) -> None:
    from scorecard.cli import main

    assert main(["check", "--contract", "marts/fct_value_anomalies"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "330102" in out and "Quality gate FAILED" in out
    assert main(["check", "--json", "--contract", "marts/fct_value_anomalies"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["ok"] is False and len(payload["anomalies"]) >= 3
