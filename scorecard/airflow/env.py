"""The environment Airflow processes run in, derived from the scorecard settings.
由评价流水线的设置生成 Airflow 进程的运行环境。

One function, :func:`airflow_env`, so that ``scorecard demo``, the benchmark scripts, the tests and
an operator's shell all start Airflow the same way: ``AIRFLOW_HOME`` under ``SCORECARD_HOME``,
the repository's ``dags/`` folder, no example DAGs, small parallelism for a 2-core machine, DAGs
active at creation (events must start them unattended), a short DAG-folder refresh, and
SimpleAuthManager with a generated admin password (never "everyone is admin").

Two profiles, chosen by ``SCORECARD_AIRFLOW_PROFILE`` (docs/distributed.md):

- ``embedded`` (the default; ``make demo``): SQLite metadata under ``AIRFLOW_HOME``, LocalExecutor.
- ``distributed``: PostgreSQL metadata, CeleryExecutor, Redis broker, PostgreSQL result backend.
  Defaults point at loopback services (``postgresql+psycopg2://postgres@127.0.0.1:5432/<db>``,
  ``redis://127.0.0.1:6379/<n>``; ``SCORECARD_AIRFLOW_DB`` and ``SCORECARD_REDIS_DB`` pick the
  database and the index); any ``AIRFLOW__…`` variable already set (or its ``_CMD``/``_SECRET``
  form, as docker-compose sets them) wins.

Nothing here imports Airflow: callers pass the environment to child processes.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from scorecard.core.settings import REPO_ROOT, Settings, get_settings

DAGS_FOLDER = REPO_ROOT / "dags"
DEFAULT_PORT = 8080
ADMIN_USER = "admin"

EMBEDDED = "embedded"
DISTRIBUTED = "distributed"
PROFILES = (EMBEDDED, DISTRIBUTED)
PROFILE_VARIABLE = "SCORECARD_AIRFLOW_PROFILE"
DEFAULT_POSTGRES = "postgres@127.0.0.1:5432"
DEFAULT_DATABASE = "scorecard_airflow"
DEFAULT_REDIS = "127.0.0.1:6379"
# Worker slots per Celery worker: this machine has 2 cores; a warehouse host needs 1 slot for the
# warehouse (the pool has one) and may use the other for parsing.
WORKER_CONCURRENCY = 2
# How long an idle scheduler sleeps between loops (Airflow's default: 1 s).
SCHEDULER_IDLE_SLEEP_SECONDS = 0.2


def airflow_profile(value: str | None = None) -> str:
    """The profile: ``value``, else ``$SCORECARD_AIRFLOW_PROFILE``, else ``embedded``."""
    profile = (value or os.environ.get(PROFILE_VARIABLE) or EMBEDDED).strip().lower()
    if profile not in PROFILES:
        raise ValueError(f"{PROFILE_VARIABLE}={profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` in the distributed profile: ``$SCORECARD_WORKER_NAME``
    when set (several workers on one host, e.g. the test stack), else the FQDN as Airflow's default.
    Task instances record it, so it shows which worker ran what."""
    return os.environ.get("SCORECARD_WORKER_NAME") or socket.getfqdn()


def distributed_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The settings of the distributed profile, for those not already set in ``environ``."""
    environ = dict(os.environ if environ is None else environ)
    database = environ.get("SCORECARD_AIRFLOW_DB") or DEFAULT_DATABASE
    redis_db = environ.get("SCORECARD_REDIS_DB") or "0"
    wanted = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{DEFAULT_POSTGRES}/{database}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{DEFAULT_REDIS}/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{DEFAULT_POSTGRES}/{database}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # a worker reserves only what it can run now: queued work goes to whichever worker is free
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # an unacknowledged task (its worker died) is redelivered after this; longer than any task
        # may run (execution_timeout 30 min). The scheduler's retry does not wait for it.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "3600",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scorecard.airflow.env.worker_hostname",
    }
    return {
        key: value
        for key, value in wanted.items()
        if not any(f"{key}{suffix}" in environ for suffix in ("", "_CMD", "_SECRET"))
    }


def airflow_home(settings: Settings | None = None) -> Path:
    """``$AIRFLOW_HOME`` if set, else ``<SCORECARD_HOME>/airflow``."""
    settings = settings or get_settings()
    value = os.environ.get("AIRFLOW_HOME")
    return Path(value).expanduser().resolve() if value else settings.home / "airflow"


def passwords_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json.generated"


def airflow_env(
    settings: Settings | None = None,
    *,
    home: Path | None = None,
    port: int = DEFAULT_PORT,
    parallelism: int = 4,
    profile: str | None = None,
) -> dict[str, str]:
    """Environment for ``airflow standalone`` / ``airflow <command>`` children, in the given
    profile (default: ``$SCORECARD_AIRFLOW_PROFILE``, else embedded)."""
    profile = airflow_profile(profile)
    settings = settings or get_settings()
    home = home or airflow_home(settings)
    env = settings.subprocess_env()
    venv_bin = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    if venv_bin not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([venv_bin, path]) if path else venv_bin
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(parallelism),
            # An idle scheduler sleeps this long between loops (Airflow's default: 1 s), and a
            # file's way to the snapshot crosses about eight hand-offs that wait on a loop (the
            # asset event to a DAG run, each task to the next, each run to the next DAG's).
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": str(SCHEDULER_IDLE_SLEEP_SECONDS),
            # A task's final state update carries its asset events (one per committed file): on a
            # loaded machine 120 of them took 6.9 s, the client's default 5 s ran out, and the
            # repeated update failed the task that had succeeded. Wait instead.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(home)),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            # log servers: the standard ports next to the standard UI port, else next to ours, so
            # two instances (e.g. a test beside a demo) do not fight over 8793/8794
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(8793 if port == DEFAULT_PORT else port + 1),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(8794 if port == DEFAULT_PORT else port + 2),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # the DAGs come from the repository, not from a bundle that needs git
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
            "SODA_CORE_TELEMETRY_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
            # the "today" and data directory the DAGs' tasks will see
            "SCORECARD_HOME": str(settings.home),
        }
    )
    env[PROFILE_VARIABLE] = profile
    if profile == DISTRIBUTED:
        env.update(distributed_env(env))
        env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = env.get(
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://localhost:{port}/execution/"
        )
    # dbt must not write target/ and logs/ into the repository from Airflow workers.
    env.setdefault("DBT_TARGET_PATH", str(settings.home / "dbt" / "target"))
    env.setdefault("DBT_LOG_PATH", str(settings.home / "dbt" / "logs"))
    return env


def admin_password(home: Path) -> str | None:
    """The generated admin password (``None`` until standalone has generated it)."""
    path = passwords_file(home)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8") or "{}")
    return data.get(ADMIN_USER)


def airflow_executable() -> str:
    """The ``airflow`` of this interpreter's environment."""
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"
