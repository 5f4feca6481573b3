"""The writer slot is free while the report and workbook render (issue #22).

Under Airflow the one-slot pool ``duckdb_writer`` serialises everything that writes the warehouse.
Here that pool is a one-slot semaphore, and each task of ``scorecard_check_publish`` takes it when
the DAG puts the task in the pool, as Airflow's scheduler would. Rendering is held half-way (the
workbook waits on an event); meanwhile a writer (``scorecard ingest`` of a submission, in its own
process, not waiting for DuckDB's lock) must get the slot and commit. Only then is rendering let go.
If rendering ran inside a pooled task, the writer would never get the slot and the test fails at
its (generous) deadline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from scorecard.core.settings import REPO_ROOT

pytestmark = pytest.mark.slow

DEADLINE = 600.0  # seconds; a deadline for events on a loaded machine, never a measured duration


def test_a_writer_takes_the_slot_while_the_release_renders(sample_build, tmp_path: Path) -> None:
    import duckdb
    from airflow.dag_processing.dagbag import DagBag

    import reports.release
    from scorecard.airflow import tasks
    from scorecard.airflow.assets import POOL

    assert sample_build.build_ok, sample_build.build_output[-3000:]
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).dags["scorecard_check_publish"]
    pooled = {task.task_id for task in dag.tasks if task.pool == POOL}
    # the tasks of a passing gate, in the DAG's order, and the functions they run
    steps: list[tuple[str, Any]] = [
        ("check_and_publish", lambda _previous: tasks.check_and_publish()),
        ("render_release", tasks.render_outcome),
    ]
    assert [task_id for task_id, _ in steps] == [
        t.task_id for t in dag.topological_sort() if t.task_id in dict(steps)
    ]

    slot = threading.Semaphore(1)
    rendering, writer_done = threading.Event(), threading.Event()
    outcome: dict[str, Any] = {}
    write_workbook = reports.release.write_workbook

    def held_workbook(snapshot: Path, out: Path) -> Path:
        rendering.set()
        if not writer_done.wait(DEADLINE):
            raise TimeoutError("no writer ran while the release rendered")
        return write_workbook(snapshot, out)

    def run_dag() -> None:
        try:
            previous: Any = None
            for task_id, step in steps:
                if task_id in pooled:
                    with slot:
                        previous = step(previous)
                else:
                    previous = step(previous)
                outcome[task_id] = previous
        except BaseException as exc:
            outcome["error"] = exc
            rendering.set()

    with pytest.MonkeyPatch.context() as mp:
        home = sample_build.copy_home(tmp_path / "home")
        settings = sample_build.environment(mp, home, tmp_path)
        mp.setattr(reports.release, "write_workbook", held_workbook)
        mp.setenv("SCORECARD_LOCK_WAIT_SECONDS", "0")  # the writer fails at once on a held lock
        submission = next(p for p in sorted(sample_build.generated.rglob("*.csv")) if p.is_file())
        copy = tmp_path / "again" / submission.name
        copy.parent.mkdir()
        shutil.copyfile(submission, copy)

        dag_run = threading.Thread(target=run_dag, daemon=True)
        dag_run.start()
        assert rendering.wait(DEADLINE), "rendering never started"
        assert "error" not in outcome, outcome.get("error")
        assert "check_and_publish" in outcome  # published; now rendering
        got_slot = slot.acquire(timeout=DEADLINE)
        try:
            assert got_slot, "the writer slot was held while the release rendered"
            writer = subprocess.run(
                [sys.executable, "-m", "scorecard.cli", "ingest", str(copy), "--department",
                 submission.parent.name],
                capture_output=True,
                text=True,
                timeout=DEADLINE,
            )  # fmt: skip
        finally:
            if got_slot:
                slot.release()
            writer_done.set()
        dag_run.join(DEADLINE)
        assert not dag_run.is_alive()
        assert writer.returncode == 0, writer.stdout + writer.stderr
        assert "error" not in outcome, outcome.get("error")
        # the writer committed while rendering was held: its file is in the ledger
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            (names,) = con.execute("select list(file_name) from raw.file_ledger").fetchone()
        assert names.count(submission.name) == 2
        release = Path(outcome["render_release"]["release"])
        assert release == Path(outcome["check_and_publish"]["published"]["release"])
        for name in reports.release.RENDERED_NAMES:
            assert (release / name).is_file()
            assert (settings.publish / name).resolve() == (release / name).resolve()
