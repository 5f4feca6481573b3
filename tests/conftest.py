"""Shared fixtures: every test gets its own data directory, never the developer's var/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scorecard.core.settings import Settings, get_settings

os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def scorecard_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SCORECARD_HOME for one test, with the pipeline clock fixed to 2026-01-15."""
    home = tmp_path / "home"
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", "2026-01-15")
    # dbt writes target/ and logs/ beside the project by default; keep tests out of the tree.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    return home


@pytest.fixture
def settings(scorecard_home: Path) -> Settings:
    s = get_settings()
    s.ensure_dirs()
    return s
