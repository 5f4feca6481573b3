"""Airflow tests get their own AIRFLOW_HOME (never ~/airflow) and, when needed, an initialised DB.

The variables are set when this file is imported, i.e. before any test module here imports Airflow
(Airflow reads its configuration once, at import).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT
from tests.shared_builds import build_once

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="scorecard-airflow-test-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags")
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

DAGS_FOLDER = REPO_ROOT / "dags"


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


def _metadata_db() -> Path:
    """The file of this process's Airflow metadata database (SQLite, in its AIRFLOW_HOME)."""
    from airflow.configuration import conf
    from sqlalchemy.engine import make_url

    url = make_url(conf.get("database", "sql_alchemy_conn"))
    assert url.get_backend_name() == "sqlite" and url.database, url
    return Path(url.database)


def _copy_sqlite(source: Path, destination: Path) -> None:
    """A consistent copy of one SQLite database into another (SQLite's online backup)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(destination)) as dst:
        src.backup(dst)


def _initialise_db(work: Path) -> dict[str, str]:
    """Create this process's metadata DB (``dag.test()`` needs task_instance etc.) with the
    pipeline's pool, and keep a copy of it in ``work`` for the other workers."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    from scorecard.airflow.assets import POOL, POOL_DESCRIPTION, POOL_SLOTS

    db.initdb()
    Pool.create_or_update_pool(POOL, slots=POOL_SLOTS, description=POOL_DESCRIPTION, include_deferred=False)
    _copy_sqlite(_metadata_db(), work / "airflow.db")
    return {"copy": str(work / "airflow.db")}


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This process's metadata DB, created once per test run (``build_once``): under
    ``pytest -n`` the first worker creates its own and keeps a copy, the others restore the copy
    into their own AIRFLOW_HOME (each worker has its own database: their DAG runs never meet)."""
    _, built, built_here = build_once(tmp_path_factory, "airflow-db", _initialise_db)
    if not built_here:
        _copy_sqlite(Path(built["copy"]), _metadata_db())
    return airflow_home


def pytest_sessionfinish(session, exitstatus) -> None:
    import shutil

    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
