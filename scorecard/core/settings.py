"""Runtime settings, read once from the environment.

Every component (CLI, loader, dbt profile, Soda data source, Airflow DAGs) resolves paths
through :func:`get_settings`, so one variable, ``SCORECARD_HOME``, moves all runtime state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # scorecard/core/settings.py


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Where things live and which programme window applies.

    Attributes:
        home: the data directory (``SCORECARD_HOME``, default ``var/`` in the repository).
        dbt_project_dir: the dbt project (``SCORECARD_DBT_PROJECT_DIR``).
        first_year / last_year: the programme window that periods must fall in
            (``SCORECARD_FIRST_YEAR`` / ``SCORECARD_LAST_YEAR``, default 2021-2025).
        as_of: the pipeline's notion of "today" (``SCORECARD_AS_OF``, ISO date; default the
            real date). Deadlines, "year is over" and late submissions are judged against it, so
            a demo or a test can replay the programme at any point in time.
        monitor_from: deadlines are enforced for reporting periods whose deadline falls on or
            after this date (``SCORECARD_MONITOR_FROM``, default 2026-01-01, the platform's
            go-live): history loaded afterwards as a backfill is not "late".
        duckdb_memory_limit: DuckDB's memory limit when loading, in the gate and in publication
            (``SCORECARD_DUCKDB_MEMORY_LIMIT``, default ``1GB``); past it DuckDB spills to disk. A
            dbt build has its own (``SCORECARD_DBT_MEMORY_LIMIT``, default ``640MB``, read by
            dbt_project/profiles.yml from the environment).
        dbt_worker: the Unix socket of a warm dbt worker (``SCORECARD_DBT_WORKER``, default none:
            every dbt command in a fresh subprocess); see ``warehouse.dbt_worker``.
    """

    home: Path
    dbt_project_dir: Path = REPO_ROOT / "dbt_project"
    first_year: int = 2021
    last_year: int = 2025
    as_of: date | None = None
    monitor_from: date = date(2026, 1, 1)
    max_file_bytes: int = 50 * 1024 * 1024
    duckdb_memory_limit: str = "1GB"
    dbt_worker: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def processing(self) -> Path:
        """Files claimed from the inbox by the Airflow trigger, waiting to be loaded."""
        return self.home / "processing"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def rejected(self) -> Path:
        return self.home / "rejected"

    @property
    def backfill(self) -> Path:
        """Where an operator puts old files for a backfill run (``backfill/<department>/file``): the
        only folder besides the inbox that an Airflow run's conf may name (docs/operations.md)."""
        return self.home / "backfill"

    @property
    def publish(self) -> Path:
        return self.home / "publish"

    @property
    def alerts_dir(self) -> Path:
        return self.home / "alerts"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def seeds_dir(self) -> Path:
        return self.dbt_project_dir / "seeds"

    def today(self) -> date:
        return self.as_of or date.today()

    def now(self) -> datetime:
        """The pipeline clock: ``as_of`` at the current time of day, or the real now."""
        real = datetime.now()
        if self.as_of is None:
            return real
        return datetime.combine(self.as_of, real.time())

    def ensure_dirs(self) -> None:
        for path in (
            self.inbox,
            self.processing,
            self.archive,
            self.rejected,
            self.publish,
            self.alerts_dir,
            self.backfill,
        ):
            path.mkdir(parents=True, exist_ok=True)

    def subprocess_env(self) -> dict[str, str]:
        """Environment for child processes (dbt, Soda, Airflow) so they see the same settings."""
        env = dict(os.environ)
        env.update(
            SCORECARD_HOME=str(self.home),
            SCORECARD_WAREHOUSE=str(self.warehouse_path),
            SCORECARD_DBT_PROJECT_DIR=str(self.dbt_project_dir),
            SCORECARD_FIRST_YEAR=str(self.first_year),
            SCORECARD_LAST_YEAR=str(self.last_year),
            DBT_PROFILES_DIR=str(self.dbt_project_dir),
            SCORECARD_DUCKDB_MEMORY_LIMIT=self.duckdb_memory_limit,
            SODA_CORE_TELEMETRY_ENABLED="false",
            DO_NOT_TRACK="1",
        )
        env["SCORECARD_MONITOR_FROM"] = self.monitor_from.isoformat()
        if self.as_of:
            env["SCORECARD_AS_OF"] = self.as_of.isoformat()
        return env


def get_settings() -> Settings:
    """Read the settings from the environment (cheap; call it where needed, don't cache)."""
    as_of = os.environ.get("SCORECARD_AS_OF")
    return Settings(
        home=_env_path("SCORECARD_HOME", REPO_ROOT / "var"),
        dbt_project_dir=_env_path("SCORECARD_DBT_PROJECT_DIR", REPO_ROOT / "dbt_project"),
        first_year=_env_int("SCORECARD_FIRST_YEAR", 2021),
        last_year=_env_int("SCORECARD_LAST_YEAR", 2025),
        as_of=date.fromisoformat(as_of) if as_of else None,
        monitor_from=date.fromisoformat(os.environ.get("SCORECARD_MONITOR_FROM") or "2026-01-01"),
        max_file_bytes=_env_int("SCORECARD_MAX_FILE_BYTES", 50 * 1024 * 1024),
        duckdb_memory_limit=os.environ.get("SCORECARD_DUCKDB_MEMORY_LIMIT") or "1GB",
        dbt_worker=Path(worker) if (worker := os.environ.get("SCORECARD_DBT_WORKER")) else None,
    )
