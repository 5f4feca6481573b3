"""The warm dbt worker (warehouse.dbt_worker): builds through it give the warehouse a dbt
subprocess gives, the warehouse is unlocked when a build returns, the parsed manifest is reused
until the project changes, a client that leaves stops its build, and without a worker the
pipeline falls back to a subprocess."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from scorecard.config import Settings
from warehouse import dbt_worker

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Worker:
    socket: Path
    proc: subprocess.Popen[str]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def builds(self) -> list[int]:
        """The worker's forked build children (not multiprocessing's resource tracker)."""
        own = Path(f"/proc/{self.proc.pid}/cmdline").read_bytes()
        found = []
        for task in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            for pid in task.read_text().split():
                try:
                    if Path(f"/proc/{pid}/cmdline").read_bytes() == own:
                        found.append(int(pid))
                except FileNotFoundError:
                    pass
        return found


def start_worker(tmp: Path, *extra: str) -> Worker:
    sock, log = tmp / "w.sock", tmp / "worker.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse.dbt_worker", "--socket", str(sock), *extra],
        cwd=REPO,
        stdout=log.open("w", encoding="utf-8"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not dbt_worker.is_serving(sock):
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        assert time.monotonic() < deadline, "the worker did not start listening"
        time.sleep(0.1)
    return Worker(sock, proc, log)


def stop_worker(worker: Worker) -> None:
    if worker.proc.poll() is None:
        worker.proc.send_signal(signal.SIGTERM)
        worker.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    running = start_worker(tmp_path_factory.mktemp("worker"))
    yield running
    stop_worker(running)
    assert not running.socket.exists(), "the worker left its socket behind"


def _settings_for(built: Settings, home: Path, worker_socket: Path | None) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built.warehouse_path, home / "warehouse.duckdb")
    return dataclasses.replace(built, home=home, dbt_worker=worker_socket)


def test_a_full_build_in_the_worker_equals_the_subprocess_build(
    built_warehouse, worker: Worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from warehouse.dbt import dbt_build

    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = _settings_for(built_warehouse.settings, tmp_path / "home", worker.socket)

    result = dbt_build(settings, mode="full")
    assert result.via == "worker"
    assert result.ok, (result.stdout + result.stderr)[-4000:]
    assert "Completed successfully" in result.stdout
    assert result.max_rss_kib and result.max_rss_kib > 50_000  # the child's memory, measured

    # The build's child has exited: the warehouse is free for a writer at once.
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


def test_the_manifest_is_reused_until_a_project_file_changes(
    worker: Worker, settings: Settings, tmp_path: Path
) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        settings.dbt_project_dir, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    env = dataclasses.replace(settings, dbt_project_dir=project).subprocess_env()
    args = ["ls", "--select", "dim_zone", "--project-dir", str(project), "--profiles-dir", str(project)]

    first = dbt_worker.request(worker.socket, args, env, project, prepare=True)
    second = dbt_worker.request(worker.socket, args, env, project, prepare=True)
    assert first is not None and second is not None
    assert (first.parsed, second.parsed) == (True, False)
    other_day = {**env, "SCORECARD_AS_OF": "2026-02-01"}  # dbt reads it while parsing
    assert dbt_worker.request(worker.socket, args, other_day, project, prepare=True).parsed

    listed = dbt_worker.request(worker.socket, args, env, project)
    assert listed.returncode == 0 and "scorecard.marts.dim_zone" in listed.stdout

    # A model that no longer compiles: parsed again, and the build fails with dbt's exit code 1.
    model = project / "models" / "marts" / "dim_zone.sql"
    model.write_text("select * from a_table_that_does_not_exist\n", encoding="utf-8")
    build = ["build", "--select", "dim_zone", *args[3:]]
    broken = dbt_worker.request(worker.socket, build, env, project)
    assert broken is not None and broken.parsed
    assert broken.returncode == 1
    assert "a_table_that_does_not_exist" in broken.stdout + broken.stderr


def test_a_client_that_leaves_stops_its_build(
    built_warehouse, worker: Worker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    settings = _settings_for(built_warehouse.settings, tmp_path / "home", worker.socket)
    project = str(settings.dbt_project_dir)
    request = {
        "args": ["build", "--full-refresh", "--project-dir", project, "--profiles-dir", project],
        "env": settings.subprocess_env(),
        "cwd": project,
    }
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(str(worker.socket))
    client.sendall(json.dumps(request).encode() + b"\n")
    deadline = time.monotonic() + 60
    while not worker.builds():
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    (child,) = worker.builds()
    client.close()  # e.g. the Airflow task was killed

    deadline = time.monotonic() + 60
    while child in worker.builds():
        assert time.monotonic() < deadline, "the orphaned build kept running"
        time.sleep(0.1)
    assert "client disconnected; stopping build" in worker.log_text()
    # The worker serves the next request.
    env = settings.subprocess_env()
    assert (
        dbt_worker.request(worker.socket, request["args"][2:], env, Path(project), prepare=True) is not None
    )


def test_without_a_worker_dbt_runs_in_a_subprocess(settings: Settings, tmp_path: Path) -> None:
    from warehouse.dbt import run_dbt

    missing = dataclasses.replace(settings, dbt_worker=tmp_path / "nobody-listens.sock")
    result = run_dbt(["ls", "--select", "dim_zone", "--output", "name"], missing)
    assert result.via == "subprocess"
    assert result.ok and "dim_zone" in result.stdout


def test_a_second_worker_on_the_same_socket_refuses_and_an_idle_worker_stops(tmp_path: Path) -> None:
    idle = start_worker(tmp_path, "--idle-timeout", "15")
    try:
        second = subprocess.run(
            [sys.executable, "-m", "warehouse.dbt_worker", "--socket", str(idle.socket)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert "already serving" in second.stderr
        assert idle.proc.wait(timeout=60) == 0
        assert "idle for 15 s; stopping" in idle.log_text()
        assert not idle.socket.exists()
    finally:
        stop_worker(idle)


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="longer than 107 bytes"):
        dbt_worker.request(tmp_path / ("x" * 120), ["ls"], dict(os.environ), tmp_path)
