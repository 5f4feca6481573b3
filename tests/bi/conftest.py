"""Fixtures for the BI tests: one real publication (generate -> ingest -> dbt -> gate -> publish,
``scorecard.pipeline.run_pipeline``), built once per session, and Python environments of their
own (not the project's) for the BI clients, made with the repository's uv from PyPI."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT, Settings, get_settings

AS_OF = "2026-01-15"
#: The oldest DuckDB the published snapshot promises to open (docs/bi.md).
OLDEST_DUCKDB = "duckdb==1.4.0"
#: DuckDB 1.x's Python package returns TIMESTAMPTZ values through pytz (docs/bi.md says so).
DUCKDB_1_EXTRAS = ("pytz",)


@dataclass(frozen=True)
class Published:
    home: Path
    settings: Settings
    work: Path


def set_env(mp: pytest.MonkeyPatch, home: Path, work: Path) -> Settings:
    mp.setenv("SCORECARD_HOME", str(home))
    mp.setenv("SCORECARD_AS_OF", AS_OF)
    mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
    mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
    settings = get_settings()
    settings.ensure_dirs()
    return settings


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """Generated submissions of the nine divisions, published by the real pipeline."""
    from samples.generate import generate
    from scorecard.pipeline import run_pipeline

    work = tmp_path_factory.mktemp("bi-publication")
    home = work / "home"
    with pytest.MonkeyPatch.context() as mp:
        settings = set_env(mp, home, work)
        generate(work / "submissions", settings=settings)
        result = run_pipeline([work / "submissions"], settings)
        assert result.publication is not None and result.publication.published, [
            (s.name, s.ok, s.summary) for s in result.steps
        ]
        yield Published(home, settings, work)


def make_venv(path: Path, *requirements: str) -> Path:
    """A virtual environment at ``path`` with ``requirements`` from PyPI; its python."""
    uv = REPO_ROOT / ".uv" / "bin" / "uv"
    python = path / "bin" / "python"
    if not python.exists():
        subprocess.run([str(uv), "venv", "--quiet", "--python", "3.11", str(path)], check=True, timeout=600)
    subprocess.run(
        [str(uv), "pip", "install", "--quiet", "--python", str(python), *requirements],
        check=True,
        timeout=1800,
    )
    return python
