"""End to end through Airflow's own runner: ``dag.test()`` of ingest -> build -> check and publish
-> alerts on generated submissions, in a temporary AIRFLOW_HOME, SCORECARD_HOME and warehouse."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    for dag in bag.dags.values():  # fail fast here: dag.test() would sit out the retry delays
        for task in dag.tasks:
            task.retries = 0
    return bag.dags


def run(dag, **kwargs):
    from airflow.utils.state import DagRunState

    dag_run = dag.test(**kwargs)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == DagRunState.SUCCESS, states
    return dag_run, states


def xcom(dag_run, task_id: str):
    (ti,) = [ti for ti in dag_run.get_task_instances() if ti.task_id == task_id]
    return ti.xcom_pull(task_ids=task_id)


def test_inbox_to_published_snapshot(dags, settings, tmp_path: Path) -> None:
    from samples.generate import generate
    from warehouse.publish import open_snapshot

    staging = tmp_path / "generated"
    generate(staging, settings=settings)
    dropped = []
    for source in sorted(
        p
        for p in staging.rglob("*")
        if (p.is_file() and p.suffix != ".json")
        or (p.is_file() and p.suffix == ".json" and p.name != "faults_manifest.json")
    ):
        target = settings.inbox / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        dropped.append(target)
    assert len(dropped) > 50

    # 1. ingest, as a manual run naming the files (the watcher's events take the same path)
    ingest_run, states = run(dags["scorecard_ingest"], run_conf={"paths": [str(p) for p in dropped]})
    assert states == {
        "claimed_files": "success",
        "parse_submissions": "success",
        "commit_submissions": "success",
        "send_receipts": "success",  # every file loaded: the run stays green
    }
    parse_tis = [ti for ti in ingest_run.get_task_instances() if ti.task_id == "parse_submissions"]
    assert len(parse_tis) == 4 and {ti.state for ti in parse_tis} == {"success"}  # four mapped parse tasks
    assert not [p for p in (settings.home / "staged").rglob("*") if p.is_file()]  # staged, then committed
    loads = {(r["original_name"], r["status"]) for r in ingest_run_results(ingest_run)}
    assert len(loads) == len(dropped)
    assert {status for _, status in loads} <= {"loaded", "loaded_with_rejects"}
    assert not [p for p in settings.inbox.rglob("*") if p.is_file()]  # all claimed
    assert not [p for p in settings.processing.rglob("*") if p.is_file()]  # all loaded and moved
    archived = [p for p in settings.archive.rglob("*") if p.is_file() and not p.name.endswith(".errors.json")]
    assert len(archived) == len(dropped)

    # the asset events on the department assets carry the hash, periods and file id
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.extra).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        ).all()
    events = [(name, extra) for name, extra in rows if name.startswith("submissions_")]
    assert len(events) == len(dropped)
    assert {name for name, _ in events} == {f"submissions_{p.parent.name}" for p in dropped}
    for _, extra in events:
        assert len(extra["file_hash"]) == 64 and extra["periods"] and extra["file_id"] is not None

    # 2. build, 3. gate and publish, 4. alerts
    run(dags["scorecard_build"])
    failures_before = asset_events(names=("quality_failures",))
    check_run, states = run(dags["scorecard_check_publish"])
    assert states == {"check_and_publish": "success", "render_release": "success", "fail_run": "skipped"}
    outcome = xcom(check_run, "check_and_publish")
    assert outcome["ok"] and outcome["gate"]["ok"]
    published = outcome["published"]
    manifest = json.loads((settings.publish / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == published["run_id"]
    # the scorecards event names the release it announced: run id, snapshot path, manifest hash
    with create_session() as session:
        scorecards_event = session.execute(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "scorecards")
            .order_by(AssetEvent.id.desc())
            .limit(1)
        ).scalar_one()
    release = settings.publish / "releases" / manifest["run_id"]
    # rendered from that release by render_release, after publication
    assert xcom(check_run, "render_release")["release"] == str(release)
    for name in ("report.html", "scorecards.xlsx"):
        assert (settings.publish / name).resolve() == (release / name).resolve()
    assert asset_events(names=("quality_failures",)) == failures_before  # the gate passed
    assert scorecards_event["run_id"] == manifest["run_id"]
    assert scorecards_event["gate_run_id"] == manifest["checks"]["run_id"]
    assert Path(scorecards_event["snapshot_path"]) == release / "scorecards.duckdb"
    assert Path(scorecards_event["snapshot_path"]).is_file()
    manifest_bytes = (settings.publish / "manifest.json").read_bytes()
    assert scorecards_event["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest()
    hashes = {extra["file_hash"] for _, extra in events}
    assert hashes <= {f["sha256"] for f in manifest["source_files"]}
    con = open_snapshot(settings=settings)
    try:
        query = "select count(*) from marts.dim_region where region_level = 'city'"
        cities = con.execute(query).fetchone()[0]
    finally:
        con.close()
    assert cities == 11

    run(dags["scorecard_alerts"])
    assert (settings.alerts_dir / "alerts.jsonl").exists()


def test_one_small_file_is_parsed_by_the_claiming_task(dags, settings) -> None:
    """A department's one-row correction: claimed_files parses it, no parse task is mapped (one
    task start fewer on the way to the snapshot), the commit loads it and the receipt goes out."""
    path = settings.inbox / "community_governance" / "correction.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "region_code,measure_code,period,value,note\n330102,SG01A,2025,5,correction\n", encoding="utf-8"
    )
    ingest_run, states = run(dags["scorecard_ingest"], run_conf={"paths": [str(path)]})
    assert states == {
        "claimed_files": "success",
        "parse_submissions": "skipped",  # mapped over no batch
        "commit_submissions": "success",
        "send_receipts": "success",
    }
    (loaded,) = ingest_run_results(ingest_run)
    assert (loaded["original_name"], loaded["status"], loaded["rows_loaded"]) == (
        "correction.csv",
        "loaded",
        1,
    )
    assert not [p for p in settings.processing.rglob("*") if p.is_file()]
    assert not [p for p in (settings.home / "staged").rglob("*") if p.is_file()]


def ingest_run_results(dag_run) -> list[dict]:
    return xcom(dag_run, "commit_submissions")


def test_failure_callback_raises_an_alert(settings) -> None:
    from scorecard.airflow.callbacks import alert_on_failure

    class TI:
        dag_id, task_id, run_id, map_index, try_number = "scorecard_build", "dbt_build", "manual__x", -1, 3

    alert_on_failure({"ti": TI(), "exception": RuntimeError("dbt build failed (rc=1)")})
    lines = (settings.alerts_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert record["kind"] == "pipeline_failure" and record["owner"] == "data_team"
    assert record["severity"] == "high"
    assert "scorecard_build.dbt_build" in record["message_en"] and "rc=1" in record["message_en"]
    assert "流水线任务失败" in record["message_zh"]
    # the same failed try is alerted once, however often the callback fires
    alert_on_failure({"ti": TI(), "exception": RuntimeError("dbt build failed (rc=1)")})
    assert len((settings.alerts_dir / "alerts.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_failed_gate_publishes_nothing_and_announces_the_failure(dags, settings, monkeypatch) -> None:
    from airflow.utils.state import DagRunState

    import quality.gate
    from quality.gate import CheckRecord, GateResult

    def failing_gate(settings=None):
        record = CheckRecord(
            stage="marts",
            contract="c",
            dataset="marts.fct_x",
            check="row_count > 0",
            outcome="fail",
            diagnostic="",
        )
        gate = GateResult(run_id="gate-test-1", checked_at="now", warehouse="wh", results=[record])
        path = settings_dir / "gate.json"
        path.write_text(json.dumps(gate.to_dict()), encoding="utf-8")
        gate.results_path = str(path)
        return gate

    settings_dir = settings.home
    monkeypatch.setattr(quality.gate, "run_gate", failing_gate)
    scorecards_before = asset_events(names=("scorecards",))
    failures_before = asset_events(names=("quality_failures",))
    dag_run = dags["scorecard_check_publish"].test()
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert dag_run.state == DagRunState.FAILED
    assert states == {"check_and_publish": "success", "render_release": "skipped", "fail_run": "failed"}
    assert not (settings.publish / "manifest.json").exists()
    outcome = xcom(dag_run, "check_and_publish")
    assert not outcome["ok"] and outcome["published"] is None
    assert outcome["gate"]["failures"] == ["marts.fct_x: row_count > 0 -> fail"]
    # the failure is announced (the alerts DAG delivers it), a publication is not
    (failure,) = asset_events(names=("quality_failures",))[len(failures_before) :]
    assert failure["gate_run_id"] == "gate-test-1"
    assert failure["failures"] == ["marts.fct_x: row_count > 0 -> fail"]
    assert asset_events(names=("scorecards",)) == scorecards_before


def asset_events(names: tuple[str, ...]) -> list[dict]:
    """The extras of the asset events recorded on the named assets, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.execute(
                select(AssetEvent.extra)
                .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .where(AssetModel.name.in_(names))
                .order_by(AssetEvent.id)
            ).scalars()
        )
