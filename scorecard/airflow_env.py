"""The environment Airflow processes run in, derived from the scorecard settings.
由评价流水线的设置生成 Airflow 进程的运行环境。

One function, :func:`airflow_env`, so that ``scorecard demo``, the benchmark scripts, the tests and
an operator's shell all start Airflow the same way: ``AIRFLOW_HOME`` under ``SCORECARD_HOME``,
the repository's ``dags/`` folder, no example DAGs, small parallelism for a 2-core machine, DAGs
active at creation (events must start them unattended), a short DAG-folder refresh, and
SimpleAuthManager with a generated admin password (never "everyone is admin").

Nothing here imports Airflow: callers pass the environment to child processes.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from scorecard.config import REPO_ROOT, Settings, get_settings

DAGS_FOLDER = REPO_ROOT / "dags"
DEFAULT_PORT = 8080
ADMIN_USER = "admin"


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
) -> dict[str, str]:
    """Environment for ``airflow standalone`` / ``airflow <command>`` children."""
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
