"""Fixtures for the BI tests: one real publication (the session's sample build through the gate
and ``warehouse.publish``), made once per session, and Python environments of their
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
def published(sample_build, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """The session's sample build (tests/conftest.py: the nine divisions' generated submissions,
    loaded and built) through the real gate and the real publication, in a copy of its data
    directory: what ``scorecard run`` releases, without building the same warehouse again."""
    from quality.gate import run_gate
    from warehouse.publish import publish

    assert sample_build.build_ok, sample_build.build_output[-4000:]
    work = tmp_path_factory.mktemp("bi-publication")
    home = sample_build.copy_home(work / "home")
    with pytest.MonkeyPatch.context() as mp:
        settings = sample_build.environment(mp, home, work)
        gate = run_gate(settings)
        assert gate.ok, gate.counts()
        publication = publish(settings, gate=gate)
        assert publication.published, publication.reason
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
