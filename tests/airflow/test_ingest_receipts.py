"""The ingest DAG sends every file's receipt, and a run that refused a file is not green: its last
task, ``send_receipts``, fails at once (no retry, no pipeline-failure alert) after sending."""

from __future__ import annotations

import json

import pytest

from scorecard.core.settings import REPO_ROOT
from tests.alerts.conftest import Receiver

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingest_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["scorecard_ingest"]
    for task in dag.tasks:
        task.retries = 0
    return dag


def test_refused_files_get_receipts_and_the_run_is_not_green(ingest_dag, settings, monkeypatch) -> None:
    from airflow.utils.state import DagRunState

    receiver = Receiver()
    monkeypatch.setenv("SCORECARD_ALERT_WEBHOOK_URL", receiver.url)
    try:
        (settings.inbox / "elderly_care").mkdir(parents=True)
        empty = settings.inbox / "elderly_care" / "empty.csv"
        empty.write_bytes(b"")
        (settings.inbox / "eldery_care").mkdir()
        misspelled = settings.inbox / "eldery_care" / "values.csv"
        misspelled.write_text("region_code,measure_code,period,value\n330102,EC01,2025,5\n", encoding="utf-8")
        dag_run = ingest_dag.test(run_conf={"paths": [str(empty), str(misspelled)]})
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        assert states["commit_submissions"] == "success"
        assert states["send_receipts"] == "failed"
        assert dag_run.state == DagRunState.FAILED
        owners = sorted(r["json"]["digest"]["owner"] for r in receiver.requests)
        assert owners == ["data_team", "elderly_care"]
        lines = [
            json.loads(x) for x in (settings.alerts_dir / "alerts.jsonl").read_text("utf-8").splitlines()
        ]
        assert sorted((x["change"], x["owner"]) for x in lines) == [
            ("receipt", "data_team"),
            ("receipt", "elderly_care"),
        ]  # no pipeline_failure alert for the refusal: the receipts are the message
    finally:
        receiver.close()
