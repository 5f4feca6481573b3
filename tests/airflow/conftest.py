"""Airflow tests get their own AIRFLOW_HOME (never ~/airflow) and, when needed, an initialised DB.

The variables are set when this file is imported, i.e. before any test module here imports Airflow
(Airflow reads its configuration once, at import).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT

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


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """Create the metadata DB once per session (``dag.test()`` needs task_instance etc.)."""
    from airflow.utils import db

    db.initdb()
    from airflow.models.pool import Pool

    from scorecard.airflow.assets import POOL, POOL_DESCRIPTION, POOL_SLOTS

    Pool.create_or_update_pool(POOL, slots=POOL_SLOTS, description=POOL_DESCRIPTION, include_deferred=False)
    return airflow_home


def pytest_sessionfinish(session, exitstatus) -> None:
    import shutil

    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)
