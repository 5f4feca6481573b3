"""Fixtures for the ingest tests: the reference data, a generated sample set, helpers."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from ingest.reference import Reference, load_reference
from samples.generate import generate
from scorecard.core.settings import Settings


@pytest.fixture(scope="session")
def reference() -> Reference:
    return load_reference(Settings(home=Path("/nonexistent")))


@pytest.fixture(scope="session")
def generated_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample set plus the fault files, generated once (read-only: copy it)."""
    out = tmp_path_factory.mktemp("generated") / "set"
    generate(out, seed=7, faults=True, settings=Settings(home=out.parent, as_of=date(2026, 1, 15)))
    return out


@pytest.fixture
def copy_into_inbox(settings: Settings) -> Callable[[Path], Path]:
    def copy(source: Path) -> Path:
        shutil.copytree(source, settings.inbox, dirs_exist_ok=True)
        return settings.inbox

    return copy
