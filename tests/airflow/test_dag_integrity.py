"""DAG integrity: the five DAGs import cleanly, are wired to the right assets, retry, alert on
failure, put every warehouse task in the one-slot pool and on the warehouse queue (and nothing
else), and do no I/O when parsed."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT

DAGS_FOLDER = REPO_ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
EXPECTED_DAGS = {
    "scorecard_ingest",
    "scorecard_build",
    "scorecard_check_publish",
    "scorecard_alerts",
    "scorecard_alert_reminders",
    "scorecard_deadlines",
}
# Tasks that open the DuckDB warehouse (or run dbt/Soda on it): all in the one-slot pool, all on
# the warehouse queue.
WAREHOUSE_TASKS = {
    ("scorecard_ingest", "commit_submissions"),
    ("scorecard_build", "dbt_build"),
    ("scorecard_check_publish", "check_and_publish"),
    ("scorecard_deadlines", "deadline_tick"),
}


def scheduled_on(dag) -> dict[str, object]:
    """The assets a DAG is scheduled on, by name (walking AssetAny/AssetAll)."""
    found: dict[str, object] = {}

    def walk(node) -> None:
        if hasattr(node, "objects"):
            for child in node.objects:
                walk(child)
        else:
            found[node.name] = node

    walk(dag.timetable.asset_condition)
    return found


def callbacks(task) -> list:
    value = task.on_failure_callback
    return list(value) if isinstance(value, list | tuple) else [value]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_no_import_errors_and_all_dags_present(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED_DAGS


def test_tags_docs_in_both_languages_and_no_catchup(dagbag) -> None:
    for dag_id in EXPECTED_DAGS:
        dag = dagbag.dags.get(dag_id)
        assert "scorecard" in dag.tags, dag_id
        assert len(dag.tags) >= 3, dag_id  # a functional tag besides the project ones
        assert "中文" in dag.doc_md and "English" in dag.doc_md, dag_id
        assert dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.doc_md or task.doc or task.__doc__, (dag_id, task.task_id)


def test_retries_with_backoff_and_failure_alerts(dagbag) -> None:
    from scorecard.airflow.callbacks import alert_on_failure

    for dag_id in EXPECTED_DAGS:
        for task in dagbag.dags.get(dag_id).tasks:
            if (dag_id, task.task_id) in {
                ("scorecard_check_publish", "fail_run"),
                ("scorecard_ingest", "send_receipts"),
            }:
                assert task.retries == 0  # a failed gate / a refused file does not get better by retrying
                assert alert_on_failure not in callbacks(task)  # its checks / the receipts are the alert
                continue
            assert alert_on_failure in callbacks(task), (dag_id, task.task_id)
            assert task.retries >= 2, (dag_id, task.task_id)
            assert task.retry_exponential_backoff > 0, (dag_id, task.task_id)


def test_every_warehouse_task_uses_the_one_slot_pool(dagbag) -> None:
    from scorecard.airflow.assets import POOL, POOL_SLOTS

    assert POOL_SLOTS == 1
    pooled = {
        (dag_id, task.task_id)
        for dag_id in EXPECTED_DAGS
        for task in dagbag.dags.get(dag_id).tasks
        if task.pool == POOL
    }
    assert pooled == WAREHOUSE_TASKS


def test_warehouse_tasks_and_only_they_go_to_the_warehouse_queue(dagbag) -> None:
    from scorecard.airflow.assets import DEFAULT_QUEUE, WAREHOUSE_QUEUE

    queues = {
        (dag_id, task.task_id): task.queue
        for dag_id in EXPECTED_DAGS
        for task in dagbag.dags.get(dag_id).tasks
    }
    assert {key for key, queue in queues.items() if queue == WAREHOUSE_QUEUE} == WAREHOUSE_TASKS
    assert {queue for key, queue in queues.items() if key not in WAREHOUSE_TASKS} == {DEFAULT_QUEUE}


def test_parsing_fans_out_outside_the_pool(dagbag) -> None:
    from scorecard.airflow.assets import POOL

    ingest = dagbag.dags.get("scorecard_ingest")
    parse = ingest.get_task("parse_submissions")
    assert type(parse).__name__.endswith("MappedOperator")  # one task instance per batch of files
    assert parse.pool != POOL
    # claimed_files parses a few small files itself and hands them to the commit directly
    assert ingest.get_task("claimed_files").downstream_task_ids == {"parse_submissions", "commit_submissions"}
    assert parse.downstream_task_ids == {"commit_submissions"}
    assert ingest.get_task("commit_submissions").trigger_rule == "none_failed_min_one_success"
    assert ingest.get_task("commit_submissions").downstream_task_ids == {"send_receipts"}
    assert [t.task_id for t in ingest.leaves] == ["send_receipts"]  # a refused file fails the run


def test_a_few_small_files_are_parsed_by_the_claiming_task(monkeypatch) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    import scorecard.airflow.tasks as tasks
    from scorecard.airflow.assets import INLINE_PARSE_MAX_BYTES, INLINE_PARSE_MAX_FILES

    parsed: list[list[dict]] = []
    monkeypatch.setattr(
        tasks, "parse_claims", lambda batch: parsed.append(batch) or [{**c, "staged": 1} for c in batch]
    )
    one = [{"path": "/p/a.csv", "size": 300}]
    assert tasks.plan_parse(one) == {
        "batches": [],
        "staged": [{"path": "/p/a.csv", "size": 300, "seq": 0, "staged": 1}],
    }
    few = [{"path": f"/p/{i}.csv", "size": 10} for i in range(INLINE_PARSE_MAX_FILES)]
    assert [c["seq"] for c in tasks.plan_parse(few)["staged"]] == list(range(INLINE_PARSE_MAX_FILES))
    # more files, or larger ones, fan out to the mapped parse tasks as before
    many = [{"path": f"/p/{i}.csv", "size": 10} for i in range(INLINE_PARSE_MAX_FILES + 1)]
    plan = tasks.plan_parse(many, tasks=4)
    assert plan["staged"] == [] and len(plan["batches"]) > 1
    assert [c["seq"] for batch in plan["batches"] for c in batch] == list(range(INLINE_PARSE_MAX_FILES + 1))
    large = [{"path": "/p/big.xlsx", "size": INLINE_PARSE_MAX_BYTES + 1}]
    assert tasks.plan_parse(large, tasks=4) == {"batches": [[{**large[0], "seq": 0}]], "staged": []}
    assert len(parsed) == 2
    with pytest.raises(AirflowSkipException):  # every claim adopted by another run: nothing to do
        tasks.plan_parse([])


def test_a_parse_that_raises_in_the_claiming_task_fails_it_and_keeps_the_files(monkeypatch, tmp_path) -> None:
    """An infrastructure error while claimed_files parses a small file (bad content is refused,
    not raised) fails the claiming task, naming the file, after the other files were staged; the
    claimed files stay where they are for the task's retry (parsing is idempotent)."""
    import scorecard.airflow.tasks as tasks

    files = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in files:
        path.write_text("region_code,measure_code,period,value\n", encoding="utf-8")
    claims = [{"path": str(p), "size": p.stat().st_size, "original_name": p.name} for p in files]
    staged: list[str] = []

    def parse_claim(claim: dict) -> dict:
        if claim["original_name"] == "a.csv":
            raise OSError("disk full")
        staged.append(claim["original_name"])
        return {**claim, "staged": 1}

    monkeypatch.setattr(tasks, "parse_claim", parse_claim)
    with pytest.raises(RuntimeError, match=r"1 of 2 files failed to parse: \['a.csv: OSError: disk full'\]"):
        tasks.plan_parse(claims)
    assert staged == ["b.csv"]
    assert all(path.exists() for path in files)


def test_parse_batches_keep_order_and_spread_the_files() -> None:
    from scorecard.airflow.tasks import parse_batches

    claims = [{"path": f"/x/{i}.csv"} for i in range(10)]
    batches = parse_batches(claims, tasks=4)
    assert len(batches) == 4 and [len(b) for b in batches] == [3, 3, 3, 1]
    assert [c["seq"] for b in batches for c in b] == list(range(10))
    assert [c["path"] for b in batches for c in b] == [c["path"] for c in claims]
    assert parse_batches(claims[:2], tasks=4) == [[{**claims[0], "seq": 0}], [{**claims[1], "seq": 1}]]
    assert parse_batches([], tasks=4) == []


def test_asset_wiring(dagbag) -> None:
    from scorecard.airflow import assets as s
    from scorecard.airflow.inbox import InboxTrigger

    ingest = dagbag.dags.get("scorecard_ingest")
    assert list(scheduled_on(ingest)) == ["inbox"]
    (watcher,) = scheduled_on(ingest)["inbox"].watchers
    assert isinstance(watcher.trigger, InboxTrigger)
    load = ingest.get_task("commit_submissions")
    assert [o.name for o in load.outlets] == ["submissions"]  # the alias: one event per department

    build_assets = set(scheduled_on(dagbag.dags.get("scorecard_build")))
    assert build_assets == {f"submissions_{d}" for d in (*s.DEPARTMENTS, s.UNASSIGNED)} | {"deadline_tick"}
    assert [o.name for o in dagbag.dags.get("scorecard_build").get_task("dbt_build").outlets] == [
        "warehouse_built"
    ]

    check = dagbag.dags.get("scorecard_check_publish")
    assert set(scheduled_on(check)) == {"warehouse_built"}
    # the alias: one event on scorecards (published) or on quality_failures (nothing published)
    assert [o.name for o in check.get_task("check_and_publish").outlets] == ["gate_outcome"]

    alerts = dagbag.dags.get("scorecard_alerts")
    assert set(scheduled_on(alerts)) == {"scorecards", "quality_failures"}
    deadlines = dagbag.dags.get("scorecard_deadlines")
    # 06:00 Beijing time, written in Beijing time (not as "22:00 UTC"): the zone is part of it
    assert deadlines.timetable.expression == "0 6 * * *"
    assert getattr(deadlines.timetable.timezone, "name", deadlines.timetable.timezone) == "Asia/Shanghai"
    assert [o.name for o in deadlines.get_task("deadline_tick").outlets] == ["deadline_tick"]

    # the asset graph has no cycle and every consumed asset has a producer or a watcher
    produced = {"inbox"}
    for dag_id in EXPECTED_DAGS:
        for task in dagbag.dags.get(dag_id).tasks:
            produced |= {o.name for o in task.outlets}
    produced |= {f"submissions_{d}" for d in (*s.DEPARTMENTS, s.UNASSIGNED)}  # via the alias
    produced |= {"scorecards", "quality_failures"}  # via the gate's alias
    for dag_id in EXPECTED_DAGS - {"scorecard_deadlines", "scorecard_alert_reminders"}:
        consumed = set(scheduled_on(dagbag.dags.get(dag_id)))
        assert consumed <= produced, dag_id


def test_departments_constant_matches_the_seed() -> None:
    from scorecard.airflow.assets import DEPARTMENTS

    with (REPO_ROOT / "dbt_project" / "seeds" / "departments.csv").open(encoding="utf-8") as fh:
        seed = [row["department_code"] for row in csv.DictReader(fh)]
    assert sorted(DEPARTMENTS) == sorted(seed)


def test_the_gate_and_the_publication_hold_the_writer_slot_together(dagbag) -> None:
    """No other writer (a build started by a later submission) may change the marts between the
    quality gate and the publication: one task in the pool checks and then publishes; the run
    fails after it when the gate failed."""
    from scorecard.airflow.assets import POOL

    check = dagbag.dags.get("scorecard_check_publish")
    assert {t.task_id for t in check.tasks if t.pool == POOL} == {"check_and_publish"}
    assert check.get_task("check_and_publish").downstream_task_ids == {"render_release", "fail_run"}
    # the run's state follows its leaves: rendering (published) or fail_run (nothing published)
    assert {t.task_id for t in check.leaves} == {"render_release", "fail_run"}


def test_rendering_runs_outside_the_writer_pool(dagbag) -> None:
    """The report and workbook read the release, not the warehouse: their task leaves the writer
    slot free (tests/airflow/test_writer_slot.py shows a writer taking it while they render)."""
    from scorecard.airflow.assets import DEFAULT_QUEUE, POOL

    render = dagbag.dags.get("scorecard_check_publish").get_task("render_release")
    assert render.pool != POOL and render.queue == DEFAULT_QUEUE
    assert render.upstream_task_ids == {"check_and_publish"}


# Hand-made DAG files for the probe's own test: the probe must be able to fail.
PROBE_SELF_TEST = {
    "bad_dag.py": "open(__file__).read()\n",  # reads a file at parse time
    "heavy_dag.py": "import duckdb\n",  # a heavy module (not seen by the next file)
    "clean_dag.py": "import json\n",
    "raising_dag.py": "raise RuntimeError('no DAG here')\n",
}


@dataclass(frozen=True)
class ProbeRun:
    returncode: int
    stderr: str
    reports: dict[str, dict]  # by file name


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory) -> ProbeRun:
    """One probe process (Airflow imported once, a forked child per file) over every DAG file and
    the hand-made files of PROBE_SELF_TEST (in a folder of their own, watched like dags/)."""
    folder = tmp_path_factory.mktemp("probe-self-test")
    for name, text in PROBE_SELF_TEST.items():
        (folder / name).write_text(text, encoding="utf-8")
    files = [*DAG_FILES, *(folder / name for name in PROBE_SELF_TEST)]
    probe = Path(__file__).with_name("dag_io_probe.py")
    proc = subprocess.run(
        [sys.executable, str(probe), *map(str, files)],
        capture_output=True,
        text=True,
        env={**os.environ, "DAG_IO_PROBE_EXTRA_ROOT": str(folder)},
        timeout=600,
        check=False,
    )
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [Path(r["file"]).name for r in reports] == [p.name for p in files], proc.stderr[-3000:]
    return ProbeRun(proc.returncode, proc.stderr, {Path(r["file"]).name: r for r in reports})


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_io_or_heavy_imports(dag_file: Path, probe_run: ProbeRun) -> None:
    # What keeps parsing fast is asserted (no I/O, none of the heavy modules); the seconds are
    # printed, not asserted: a wall-clock bound fails on a loaded machine, not on slow code.
    report = probe_run.reports[dag_file.name]
    assert "error" not in report, report.get("error")
    assert report["io"] == [], report["io"]
    assert report["heavy_modules"] == [], report["heavy_modules"]
    print(f"{dag_file.name}: {report['seconds'] * 1000:.0f} ms own (after importing Airflow)")


def test_probe_catches_top_level_io(probe_run: ProbeRun) -> None:
    """The I/O probe itself must be able to fail: a DAG file reading a file at parse time, one
    importing a heavy module (not seen by the next file: each is probed in its own child), and
    one that raises (the probe exits 1)."""
    bad, heavy, clean, raising = (probe_run.reports[name] for name in PROBE_SELF_TEST)
    assert probe_run.returncode == 1, probe_run.stderr[-3000:]
    assert bad["io"] and bad["io"][0].startswith("open "), bad
    assert heavy["heavy_modules"] == ["duckdb"] and heavy["io"] == [], heavy
    assert clean["heavy_modules"] == [] and clean["io"] == [], clean
    assert "no DAG here" in raising["error"], raising


def test_the_deadline_check_fires_at_six_beijing_time_as_the_scheduler_reads_it(dagbag) -> None:
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    scheduled = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags.get("scorecard_deadlines")))
    earliest = pendulum.datetime(2026, 1, 1, tz="UTC")
    info = scheduled.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    local = info.run_after.in_tz("Asia/Shanghai")
    assert (local.hour, local.minute, local.utcoffset().total_seconds()) == (6, 0, 8 * 3600), local


def test_the_alert_dags_take_their_dag_arguments_from_one_place(dagbag) -> None:
    """scorecard_alerts and scorecard_alert_reminders share one @dag block (start date, catch-up,
    one run at a time, retry policy and failure alert, tags): scorecard.airflow.callbacks."""
    from scorecard.airflow.callbacks import alert_dag_arguments, alert_on_failure

    shared = alert_dag_arguments()
    for dag_id in ("scorecard_alerts", "scorecard_alert_reminders"):
        source = (DAGS_FOLDER / f"{dag_id}.py").read_text(encoding="utf-8")
        assert "**alert_dag_arguments()" in source and "max_active_runs" not in source, dag_id
        dag = dagbag.dags.get(dag_id)
        assert dag.catchup is shared["catchup"] is False
        assert dag.max_active_runs == shared["max_active_runs"] == 1
        assert set(dag.tags) == set(shared["tags"]), dag_id
        assert dag.start_date.date() == shared["start_date"].date()
        for task in dag.tasks:
            assert task.retries == shared["default_args"]["retries"], (dag_id, task.task_id)
            assert alert_on_failure in callbacks(task), (dag_id, task.task_id)


def test_ingest_runs_two_at_a_time(dagbag) -> None:
    """Every ingest run adopts every claim nobody has adopted, so a third run at once could only
    find nothing: in `make demo` (120 files at once, max_active_runs 8) seven of eight runs ran
    claimed_files for nothing and held the executor slots the one loaded run waited for. Two:
    one loading and one for claims made after it adopted its own; later events wait and merge."""
    from scorecard.airflow.assets import INGEST_MAX_ACTIVE_RUNS

    assert dagbag.dags.get("scorecard_ingest").max_active_runs == INGEST_MAX_ACTIVE_RUNS == 2
