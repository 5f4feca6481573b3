"""The distributed stack for ``make test-distributed``: fresh PostgreSQL database, fresh Redis
index, Airflow's components and two Celery workers, all stopped (by process group) and dropped at
the end, whatever happened.

These tests need the loopback services and fail (never skip) without them: ``make test`` deselects
them with ``-m "not distributed"``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.distributed import stack as st

pytestmark = pytest.mark.distributed

AS_OF = "2026-01-15"
# The round of submissions the test drops at once: every department's 2025 files (the deadline
# round of January 2026). History (2021-2024) is already in the warehouse, loaded before Airflow
# starts. Corrections: three one-row files correcting a 2025 value of three counties (the same
# kind of correction bench/airflow_latency.py drops; plausible enough to pass the quality gate).
ROUND_YEAR = "2025"
CORRECTION = ("community_governance", "SG01A")
EVENT_DAGS = ("scorecard_ingest", "scorecard_build", "scorecard_check_publish", "scorecard_alerts")
ALL_DAGS = {*EVENT_DAGS, "scorecard_deadlines"}


@dataclass
class Submissions:
    history: Path
    round: Path
    corrections: Path


@dataclass
class Distributed:
    stack: st.Stack
    data: Submissions
    reference_out: Path
    reference: subprocess.Popen
    dropped: dict[str, list[str]] = field(default_factory=dict)  # label -> sha256 of the files

    def reference_snapshot(self, label: str, timeout: float = 900) -> Path:
        """The reference run's published Parquet for a step, once it is there."""
        target = self.reference_out / label / "parquet"
        deadline = time.monotonic() + timeout
        while not target.is_dir():
            code = self.reference.poll()
            if code is not None and not target.is_dir():
                log = (self.reference_out / "reference.log").read_text(encoding="utf-8", errors="replace")
                raise AssertionError(
                    f"the reference run exited {code} before publishing {label}:\n{log[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"the reference run did not publish {label} in {timeout:.0f} s")
            time.sleep(2)
        time.sleep(1)  # copytree of the last step finishing
        return target


def _copy_selected(source: Path, target: Path, keep) -> list[Path]:
    copied = []
    for path in sorted(source.rglob("*")):
        if path.is_file() and path.name != "faults_manifest.json" and keep(path):
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            copied.append(destination)
    return copied


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_submissions(root: Path, settings) -> Submissions:
    from ingest.reference import load_reference
    from samples.generate import generate

    generated = root / "generated"
    generate(generated, settings=settings)
    data = Submissions(root / "history", root / "round", root / "corrections")
    history = _copy_selected(generated, data.history, lambda p: not p.name.startswith(ROUND_YEAR))
    round_ = _copy_selected(generated, data.round, lambda p: p.name.startswith(ROUND_YEAR))
    department, measure = CORRECTION
    counties = sorted(
        code for code, region in load_reference(settings).regions.items() if region.level == "county"
    )
    corrections = []
    for index in range(3):
        path = data.corrections / department / f"correction_{index}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        county = counties[(index * 7) % len(counties)]
        row = f"{county},{measure},{ROUND_YEAR},{3 + index},correction"
        path.write_text(f"region_code,measure_code,period,value,note\n{row}\n", encoding="utf-8")
        corrections.append(path)
    assert len(history) > 50 and len({p.parent.name for p in round_}) == 9
    # the corrections really change something: none has the bytes of a file of the round
    assert not {_sha256(p) for p in corrections} & {_sha256(p) for p in round_}
    return data


def drop(stack: st.Stack, folder: Path) -> list[str]:
    """Put every file of ``folder`` (department sub-folders) into the inbox at once: each written
    under a temporary name, then renamed, as an upload service would."""
    inbox = stack.settings.inbox
    hashes = []
    staged = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        target = inbox / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        shutil.copy2(path, partial)
        staged.append((partial, target))
        hashes.append(_sha256(path))
    for partial, target in staged:
        os.rename(partial, target)
    return hashes


def check_services() -> None:
    """Fail (not skip) when the loopback PostgreSQL or Redis is not there."""
    try:
        with contextlib.closing(st.pg_connect()) as con, con.cursor() as cur:
            cur.execute("SELECT 1")
    except Exception as exc:
        pytest.fail(f"PostgreSQL on loopback is required for make test-distributed: {exc}", pytrace=False)
    try:
        st.redis_client(0).ping()
    except Exception as exc:
        pytest.fail(f"Redis on loopback is required for make test-distributed: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory):
    check_services()
    from scorecard.core.settings import get_settings

    root = tmp_path_factory.mktemp("distributed")
    home = root / "home"
    reference_home = root / "reference-home"
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    database = f"scorecard_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    saved = {k: os.environ.get(k) for k in ("SCORECARD_HOME", "SCORECARD_AS_OF")}
    os.environ.update(SCORECARD_HOME=str(home), SCORECARD_AS_OF=AS_OF)
    settings = get_settings()
    for key, value in saved.items():  # the test process itself keeps its environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    settings.ensure_dirs()

    redis_index = st.claim_redis_index(owner)
    reference = None
    stack = None
    try:
        st.create_database(database)
        port = st.free_port_block(3)
        env = st.stack_env(settings, database=database, redis_index=redis_index, port=port)
        env["SCORECARD_AS_OF"] = AS_OF
        stack = st.Stack(settings=settings, database=database, redis_index=redis_index, port=port, env=env)
        data = make_submissions(root, settings)

        # The fault-free reference, in its own home, while Airflow starts (it waits for nothing).
        reference_out = root / "reference"
        reference_out.mkdir()
        ref_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
            "SCORECARD_HOME": str(reference_home),
            "SCORECARD_AS_OF": AS_OF,
            "DBT_TARGET_PATH": str(reference_home / "dbt" / "target"),
            "DBT_LOG_PATH": str(reference_home / "dbt" / "logs"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        }
        with (reference_out / "reference.log").open("wb") as log:
            reference = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("reference.py")),
                    str(reference_out),
                    f"round={data.history},{data.round}",
                    f"corrections={data.corrections}",
                ],
                env=ref_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        # History is in the warehouse before Airflow starts (a national platform's past years).
        proc = subprocess.run(
            [str(Path(sys.executable).with_name("scorecard")), "ingest", str(data.history)],
            env={**env},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

        stack.airflow("db", "migrate", timeout=600)
        from scorecard.airflow.assets import POOL, POOL_DESCRIPTION, POOL_SLOTS

        stack.airflow("pools", "set", POOL, str(POOL_SLOTS), POOL_DESCRIPTION)
        stack.start("api-server", "api-server", "--port", str(port))
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        stack.start("triggerer", "triggerer")
        # worker-a serves the default queue only; worker-b is the warehouse host: it alone serves
        # the warehouse queue, and parses too with its other slot (docs/distributed.md).
        stack.start_worker("worker-a", ["default"])
        stack.start_worker("worker-b", ["warehouse", "default"])
        stack.wait_for("the five DAGs", lambda: stack.registered_dags() >= ALL_DAGS, timeout=300)
        # DAGs are paused at creation here: the daily deadline DAG stays paused (its clock would
        # start a rebuild at an arbitrary moment; tests/airflow covers it); the four event-driven
        # DAGs are switched on.
        stack.airflow("dags", "unpause", "--treat-dag-id-as-regex", "-y", "^(" + "|".join(EVENT_DAGS) + ")$")
        stack.wait_for("a healthy API server, scheduler and triggerer", stack.healthy, timeout=300)
        yield Distributed(stack=stack, data=data, reference_out=reference_out, reference=reference)
    finally:
        errors = []
        if stack is not None:
            try:
                stack.stop_all()
            except Exception as exc:
                errors.append(f"stopping the stack: {exc}")
            for name, component in stack.components.items():
                if component.popen.poll() is None:
                    errors.append(f"{name} (pid {component.pid}) still running")
        if reference is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(reference.pid, signal.SIGKILL)
            reference.wait(timeout=30)
        try:
            st.drop_database(database)
            if st.database_exists(database):
                errors.append(f"database {database} still exists")
        except Exception as exc:
            errors.append(f"dropping {database}: {exc}")
        try:
            st.release_redis_index(redis_index, owner)
        except Exception as exc:
            errors.append(f"flushing Redis index {redis_index}: {exc}")
        if errors:
            pytest.fail("teardown: " + "; ".join(errors), pytrace=False)
