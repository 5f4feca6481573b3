"""A distributed Airflow stack on this machine's loopback services, for the distributed tests.

PostgreSQL (a fresh database) holds the metadata and the Celery results, Redis (a fresh database
index) is the broker; the API server, scheduler, DAG processor, triggerer and Celery workers run
as separate processes, each in its own session so that it can be stopped, with all its children,
by its process-group id (= the PID we started). Nothing here is used by the pipeline itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scorecard.airflow.env import DISTRIBUTED, airflow_env, airflow_executable
from scorecard.core.settings import Settings

PG_DSN = os.environ.get("SCORECARD_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
PG_URL = os.environ.get("SCORECARD_TEST_PG_URL", "postgres@127.0.0.1:5432")
REDIS_HOST = os.environ.get("SCORECARD_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("SCORECARD_TEST_REDIS_PORT", "6379"))
REDIS_INDEXES = range(7, 16)  # indexes 0-6 are left to whoever else uses this Redis
REDIS_OWNER_KEY = "scorecard:distributed-test:owner"
LOCK_ERRORS = ("Could not set lock", "Conflicting lock")


class StackError(RuntimeError):
    pass


# --- services ---------------------------------------------------------------------------------------


def pg_connect(dbname: str = "postgres") -> Any:
    import psycopg2

    dsn = PG_DSN.replace("dbname=postgres", f"dbname={dbname}")
    con = psycopg2.connect(dsn, connect_timeout=5)
    con.autocommit = True
    return con


def create_database(name: str) -> None:
    with contextlib.closing(pg_connect()) as con, con.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with contextlib.closing(pg_connect()) as con, con.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with contextlib.closing(pg_connect()) as con, con.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cur.fetchone() is not None


def redis_client(index: int) -> Any:
    import redis

    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index, socket_timeout=5)


def claim_redis_index(owner: str) -> int:
    """An empty Redis database index, claimed by writing an owner key into it (so that two test
    runs never share one); the broker's queues then live in it alone."""
    for index in REDIS_INDEXES:
        client = redis_client(index)
        if client.dbsize() == 0 and client.set(REDIS_OWNER_KEY, owner, nx=True):
            if client.dbsize() == 1:
                return index
            client.delete(REDIS_OWNER_KEY)
    raise StackError(f"no empty Redis database index among {list(REDIS_INDEXES)}")


def release_redis_index(index: int, owner: str) -> None:
    client = redis_client(index)
    if (client.get(REDIS_OWNER_KEY) or b"").decode() == owner:
        client.flushdb()


def free_port_block(count: int = 3) -> int:
    """A port p such that p .. p+count-1 are free now (API server and the two log servers)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise StackError("no block of free ports")


# --- processes ------------------------------------------------------------------------------------


@dataclass
class Component:
    name: str
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid


def group_members(pgid: int) -> list[int]:
    """PIDs of live (non-zombie) processes in a process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class Stack:
    """The processes of one distributed Airflow, their environment and their metadata database."""

    settings: Settings
    database: str
    redis_index: int
    port: int
    env: dict[str, str]
    components: dict[str, Component] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)

    @property
    def airflow_home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def logs(self) -> Path:
        return self.settings.home / "process-logs"

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run one ``airflow`` command to completion (its output into the process logs)."""
        proc = subprocess.run(
            [airflow_executable(), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "airflow-cli.log").open("a", encoding="utf-8") as fh:
            fh.write(f"$ airflow {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}\n")
        if proc.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
        return proc

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> Component:
        """Start ``airflow <args>`` in its own session (its PID is its process-group id)."""
        if name in self.components:
            raise StackError(f"{name} already started")
        self.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                [airflow_executable(), *args],
                env={**self.env, **(extra_env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        component = Component(name, popen, log_path)
        self.components[name] = component
        return component

    def start_worker(self, name: str, queues: Iterable[str], concurrency: int = 2) -> Component:
        """A Celery worker serving ``queues``; task instances record ``name`` as their hostname."""
        return self.start(
            name,
            "celery",
            "worker",
            "--queues",
            ",".join(queues),
            "--concurrency",
            str(concurrency),
            "--celery-hostname",
            f"{name}@%h",
            "--skip-serve-logs",
            "--without-mingle",
            "--without-gossip",
            extra_env={"SCORECARD_WORKER_NAME": name},
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a component's whole process group (the component and every child it started)."""
        component = self.components[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(component.pid, sig)
        if sig == signal.SIGKILL:
            component.popen.wait(timeout=30)
            self.stopped.append(name)

    def stop(self, name: str, grace: float = 30) -> None:
        """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
        component = self.components[name]
        if name not in self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(component.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and (
                component.popen.poll() is None or group_members(component.pid)
            ):
                time.sleep(0.5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(component.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.popen.wait(timeout=10)
            self.stopped.append(name)
        left = group_members(component.pid)
        if left:
            raise StackError(f"{name} (pgid {component.pid}) left processes behind: {left}")

    def stop_all(self) -> None:
        errors = []
        # workers first (they stop taking tasks), then the scheduler and the rest
        order = sorted(self.components, key=lambda n: (not n.startswith("worker"), n != "scheduler"))
        for name in order:
            try:
                self.stop(name, grace=20 if name.startswith("worker") else 30)
            except Exception as exc:  # keep stopping the others
                errors.append(f"{name}: {exc}")
        if errors:
            raise StackError("; ".join(errors))

    def assert_running(self) -> None:
        dead = {
            n: c.popen.poll()
            for n, c in self.components.items()
            if n not in self.stopped and c.popen.poll() is not None
        }
        if dead:
            raise StackError(f"components exited: {dead}; see {self.logs}")

    # --- waiting and the metadata database ---------------------------------------------------------

    def wait_for(self, what: str, predicate: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.assert_running()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        with contextlib.closing(pg_connect(self.database)) as con, con.cursor() as cur:
            cur.execute(sql, list(params))
            columns = [d[0] for d in cur.description]
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5
            ) as r:
                body = json.loads(r.read())
        except OSError:
            return False
        return all(
            (body.get(part) or {}).get("status") == "healthy"
            for part in ("metadatabase", "scheduler", "triggerer")
        )

    def registered_dags(self) -> set[str]:
        return {row["dag_id"] for row in self.query("SELECT dag_id FROM dag WHERE NOT is_stale")}

    def runs(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT dag_id, run_id, state, queued_at, start_date, end_date FROM dag_run ORDER BY id"
        )

    def task_instances(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT dag_id, task_id, run_id, map_index, state, hostname, queue, pool, try_number, "
            "start_date, end_date FROM task_instance ORDER BY start_date NULLS LAST"
        )

    def task_history(self) -> list[dict[str, Any]]:
        """Earlier tries of task instances that were retried."""
        return self.query(
            "SELECT dag_id, task_id, run_id, map_index, state, hostname, queue, try_number "
            "FROM task_instance_history ORDER BY try_number"
        )

    def quiet(self) -> bool:
        """No DAG run queued or running and no task instance waiting to run."""
        busy = (
            self.query("SELECT count(*) AS n FROM dag_run WHERE state IN ('queued', 'running')")[0]["n"]
            + self.query(
                "SELECT count(*) AS n FROM task_instance WHERE state IN ('scheduled', 'queued', "
                "'running', 'up_for_retry', 'up_for_reschedule', 'restarting', 'deferred')"
            )[0]["n"]
        )
        return busy == 0

    def lock_errors(self) -> list[str]:
        """Lines of any process or task log that report a DuckDB lock conflict."""
        found = []
        for folder in (self.logs, self.airflow_home / "logs"):
            for path in folder.rglob("*"):
                if not path.is_file():
                    continue
                with contextlib.suppress(OSError):
                    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                        if any(marker in line for marker in LOCK_ERRORS):
                            found.append(f"{path.name}: {line[:300]}")
        return found

    def log_tails(self, lines: int = 40) -> str:
        out = []
        for component in self.components.values():
            with contextlib.suppress(OSError):
                text = component.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
                out.append(f"----- {component.name} (pid {component.pid}) -----\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def stack_env(settings: Settings, *, database: str, redis_index: int, port: int) -> dict[str, str]:
    """The distributed profile's environment for a stack on loopback, tuned for a test: a short
    heartbeat timeout (a killed worker is noticed in about half a minute, not five), DAGs paused
    at creation (the test unpauses the event-driven ones) and fresh secrets."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIRFLOW__") and k not in ("AIRFLOW_HOME", "SCORECARD_WORKER_NAME")
    }
    base.update(
        SCORECARD_HOME=str(settings.home),
        SCORECARD_AIRFLOW_DB=database,
        SCORECARD_REDIS_DB=str(redis_index),
        AIRFLOW_HOME=str(settings.home / "airflow"),
    )
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(base)
        env = airflow_env(settings, port=port, profile=DISTRIBUTED)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG_URL}/{database}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG_URL}/{database}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_index}",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    return env


def _fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
