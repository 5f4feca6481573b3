"""The warm dbt worker (warehouse.dbt_worker): builds through it give the warehouse a dbt
subprocess gives, the warehouse is unlocked when a build returns, the parsed manifest is reused
until the project changes, a client that leaves stops its build, and without a worker the
pipeline falls back to a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from scorecard.core.settings import Settings
from warehouse import dbt_worker

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def builds(worker: dbt_worker.WorkerProcess) -> list[int]:
    """The worker's forked build children (not multiprocessing's resource tracker)."""
    assert worker.proc is not None
    own = Path(f"/proc/{worker.proc.pid}/cmdline").read_bytes()
    found = []
    for task in Path(f"/proc/{worker.proc.pid}/task").glob("*/children"):
        for pid in task.read_text().split():
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes() == own:
                    found.append(int(pid))
            except FileNotFoundError:
                pass
    return found


def start_worker(tmp: Path, idle_timeout: float | None = None) -> dbt_worker.WorkerProcess:
    worker = dbt_worker.WorkerProcess(tmp / "w.sock", idle_timeout=idle_timeout)
    worker.start()
    return worker


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dbt_worker.WorkerProcess]:
    running = start_worker(tmp_path_factory.mktemp("worker"))
    yield running
    assert running.stop() == 0
    assert not running.socket_path.exists(), "the worker left its socket behind"


def _settings_for(built: Settings, home: Path, worker_socket: Path | None) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.warehouse_path, home / "warehouse.duckdb")
    return dataclasses.replace(built, home=home, dbt_worker=worker_socket)


def test_a_full_build_in_the_worker_equals_the_subprocess_build(
    built_warehouse, worker: dbt_worker.WorkerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse.dbt import dbt_build

    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = _settings_for(built_warehouse.settings, tmp_path / "home", worker.socket_path)
    with duckdb.connect(str(settings.warehouse_path)) as con:  # the build must make them anew
        con.execute("drop schema marts cascade")
        con.execute("checkpoint")

    results = tmp_path / "target" / "run_results.json"
    manifest = tmp_path / "target" / "manifest.json"
    result = dbt_build(settings, mode="full")
    assert result.via == "worker"
    assert result.ok, (result.stdout + result.stderr)[-4000:]
    assert "Completed successfully" in result.stdout
    # The build's results are where the pipeline reads them.
    from warehouse.dbt import read_run_results, run_results_path

    assert run_results_path(settings) == results
    by_status, failures = read_run_results(results)
    assert failures == [] and by_status["success"] >= 15 and by_status["pass"] >= 50, by_status
    assert json.loads(results.read_text(encoding="utf-8"))["args"]["which"] == "build"
    assert result.max_rss_kib and result.max_rss_kib > 50_000  # the child's memory, measured

    # The build's child has exited and checkpointed: the warehouse file holds everything (no
    # write-ahead log left) and is free for a writer at once.
    assert not settings.warehouse_path.with_name(settings.warehouse_path.name + ".wal").exists()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table raw.worker_probe as select 1 as x")
        con.execute("drop table raw.worker_probe")
        con.execute(f"attach '{built_warehouse.settings.warehouse_path}' as subprocess_build (read_only)")
        marts = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'subprocess_build' and schema_name = 'marts'"
            ).fetchall()
        ]
        assert len(marts) >= 15
        for name in marts:
            for left, right in (("warehouse", "subprocess_build"), ("subprocess_build", "warehouse")):
                extra = con.execute(
                    f"select count(*) from (select * from {left}.marts.{name} "
                    f"except all select * from {right}.marts.{name})"
                ).fetchone()[0]
                assert extra == 0, (name, left, right)

    # The next build reuses the parsed manifest: an incremental build, through the same worker.
    again = dbt_build(settings, mode="incremental")
    assert again.via == "worker" and again.ok, (again.stdout + again.stderr)[-4000:]
    assert "--selector" in again.command
    assert json.loads(results.read_text(encoding="utf-8"))["args"]["selector"] == again.selector
    # A build on a parsed manifest writes its results, not the manifest's dump (the worker's
    # parse writes that, once per project and environment).
    manifest.unlink()
    results.unlink()
    third = dbt_build(settings, mode="incremental")
    assert third.via == "worker" and third.ok, (third.stdout + third.stderr)[-4000:]
    assert results.exists() and not manifest.exists()


def test_the_manifest_is_reused_until_a_project_file_changes(
    worker: dbt_worker.WorkerProcess, settings: Settings, tmp_path: Path
) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        settings.dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    env = dataclasses.replace(settings, dbt_project_dir=project).subprocess_env()
    args = ["ls", "--select", "dim_zone", "--project-dir", str(project), "--profiles-dir", str(project)]

    first = dbt_worker.request(worker.socket_path, args, env, project, prepare=True)
    second = dbt_worker.request(worker.socket_path, args, env, project, prepare=True)
    assert first is not None and second is not None
    assert (first.parsed, second.parsed) == (True, False)
    other_day = {**env, "SCORECARD_AS_OF": "2026-02-01"}  # dbt reads it while parsing
    assert dbt_worker.request(worker.socket_path, args, other_day, project, prepare=True).parsed

    # Two environments are kept (full builds name the shadow copy, incremental ones the live
    # warehouse), the least recently used one gives way to a third.
    listed = dbt_worker.request(worker.socket_path, args, env, project)
    assert listed.returncode == 0 and "scorecard.marts.dim_zone" in listed.stdout
    assert not listed.parsed
    third = {**env, "SCORECARD_AS_OF": "2026-03-01"}
    assert dbt_worker.request(worker.socket_path, args, third, project, prepare=True).parsed
    assert not dbt_worker.request(worker.socket_path, args, env, project, prepare=True).parsed
    assert dbt_worker.request(worker.socket_path, args, other_day, project, prepare=True).parsed

    # A model that no longer compiles: parsed again, and the build fails with dbt's exit code 1.
    model = project / "models" / "marts" / "dim_zone.sql"
    model.write_text("select * from a_table_that_does_not_exist\n", encoding="utf-8")
    build = ["build", "--select", "dim_zone", *args[3:]]
    broken = dbt_worker.request(worker.socket_path, build, env, project)
    assert broken is not None and broken.parsed
    assert broken.returncode == 1
    assert "a_table_that_does_not_exist" in broken.stdout + broken.stderr


def test_warming_the_worker_parses_with_both_builds_environments(
    worker: dbt_worker.WorkerProcess, settings: Settings, tmp_path: Path
) -> None:
    from warehouse.dbt import _dbt_env, _project_args, run_dbt, shadow_path, warm_worker

    warm = dataclasses.replace(settings, dbt_worker=worker.socket_path)
    assert warm_worker(warm)
    # the build that follows, full (on the shadow copy) or incremental (in place), finds the
    # project parsed already
    args = _project_args(settings, ["ls", "--select", "dim_zone"])
    for warehouse in (shadow_path(settings), settings.warehouse_path):
        env = _dbt_env(settings, warehouse)
        reply = dbt_worker.request(worker.socket_path, args, env, settings.dbt_project_dir)
        assert reply is not None and reply.returncode == 0 and not reply.parsed, warehouse
    # ... also as run_dbt sends it, with the variables that only shape dbt's output (no colours
    # in captured output): the worker's log names every parse
    parses = worker.log_tail(10_000_000).count("] parsed ")
    for warehouse in (shadow_path(settings), settings.warehouse_path):
        listed = run_dbt(["ls", "--select", "dim_zone", "--output", "name"], warm, warehouse=warehouse)
        assert listed.via == "worker" and listed.ok and "dim_zone" in listed.stdout, warehouse
    assert worker.log_tail(10_000_000).count("] parsed ") == parses, worker.log_tail()
    assert not warm_worker(settings)  # no worker configured
    assert not warm_worker(dataclasses.replace(settings, dbt_worker=tmp_path / "nobody.sock"))


def test_a_client_that_leaves_stops_its_build(
    built_warehouse, worker: dbt_worker.WorkerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = _settings_for(built_warehouse.settings, tmp_path / "home", worker.socket_path)
    project = str(settings.dbt_project_dir)
    request = {
        "args": ["build", "--full-refresh", "--project-dir", project, "--profiles-dir", project],
        "env": settings.subprocess_env(),
        "cwd": project,
    }
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(worker.socket_path))
    client.sendall(json.dumps(request).encode() + b"\n")
    deadline = time.monotonic() + 60
    while not builds(worker):
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    (child,) = builds(worker)
    client.close()  # e.g. the Airflow task was killed

    deadline = time.monotonic() + 60
    while child in builds(worker):
        assert time.monotonic() < deadline, "the orphaned build kept running"
        time.sleep(0.1)
    assert "client disconnected; stopping build" in worker.log_tail(100_000)
    # The worker serves the next request.
    env = settings.subprocess_env()
    project_args = request["args"][2:]
    assert dbt_worker.request(worker.socket_path, project_args, env, Path(project), prepare=True) is not None


def test_stopping_the_worker_stops_its_build(
    built_warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse.dbt import dbt_build, warm_worker

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    stopping = start_worker(tmp_path)
    settings = _settings_for(built_warehouse.settings, tmp_path / "home", stopping.socket_path)
    assert warm_worker(settings)  # parsed: the only child that appears next is the build
    outcome: list[object] = []
    client = threading.Thread(target=lambda: outcome.append(dbt_build(settings, mode="full")))
    client.start()
    deadline = time.monotonic() + 60
    while not builds(stopping):
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    (child,) = builds(stopping)
    # a generous deadline: under a parallel CPU load the stop took over the default 60 s once
    assert stopping.stop(timeout=300) == 0
    client.join(timeout=60)
    assert not Path(f"/proc/{child}").exists()
    assert "worker stopping; stopping build" in stopping.log_tail()
    (result,) = outcome
    assert not result.ok and result.via == "worker"  # reported as failed, not lost
    # the failed build's copy was set aside; the live warehouse is the one it started from
    assert (settings.home / "warehouse.failed-build.duckdb").exists()


def test_without_a_worker_dbt_runs_in_a_subprocess(settings: Settings, tmp_path: Path) -> None:
    from warehouse.dbt import run_dbt

    missing = dataclasses.replace(settings, dbt_worker=tmp_path / "nobody-listens.sock")
    result = run_dbt(["ls", "--select", "dim_zone", "--output", "name"], missing)
    assert result.via == "subprocess"
    assert result.ok and "dim_zone" in result.stdout


def test_a_second_worker_on_the_same_socket_refuses(worker: dbt_worker.WorkerProcess) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "warehouse.dbt_worker", "--socket", str(worker.socket_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "already serving" in second.stderr
    assert worker.proc is not None and worker.proc.poll() is None  # the first one serves on
    assert worker.socket_path.exists()


def test_an_idle_worker_stops(tmp_path: Path) -> None:
    idle = start_worker(tmp_path, idle_timeout=1)
    try:
        assert idle.proc is not None and idle.proc.wait(timeout=60) == 0
        assert "idle for 1 s; stopping" in idle.log_tail()
        assert not idle.socket_path.exists()
    finally:
        idle.stop()


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        dbt_worker.request(tmp_path / ("x" * 120), ["ls"], dict(os.environ), tmp_path)


def test_the_demo_has_the_worker_parse_with_the_environment_of_the_build_tasks(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``scorecard demo`` starts the worker while Airflow starts and has it parse the project then,
    with the environment it gives Airflow (that of the build tasks), not its own: the first build
    after the drop finds both manifests parsed."""
    from scorecard.airflow.env import airflow_env
    from scorecard.core.settings import get_settings
    from scorecard.demo import Background, parse_ahead
    from warehouse.dbt import run_dbt, shadow_path

    worker = dbt_worker.WorkerProcess(tmp_path / "demo.sock", log_path=tmp_path / "demo-worker.log")
    env = airflow_env(settings, home=tmp_path / "airflow", port=8901)
    env["SCORECARD_DBT_WORKER"] = str(worker.socket_path)
    env["DBT_TARGET_PATH"] = str(tmp_path / "task-target")  # the tasks' own, not this process's
    try:
        starting = Background(worker.start)
        assert parse_ahead(starting, env)
        parses = worker.log_tail(10_000_000).count("] parsed ")
        assert parses == 2, worker.log_tail()  # the full build's and the incremental build's
        # a build task: a process with the environment the demo gave Airflow
        for key in [key for key in os.environ if key.startswith(("SCORECARD_", "DBT_"))]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        task = get_settings()
        for warehouse in (shadow_path(task), task.warehouse_path):
            listed = run_dbt(["ls", "--select", "dim_zone", "--output", "name"], task, warehouse=warehouse)
            assert listed.via == "worker" and listed.ok and "dim_zone" in listed.stdout, warehouse
        assert worker.log_tail(10_000_000).count("] parsed ") == parses, worker.log_tail()
    finally:
        assert worker.stop() == 0
