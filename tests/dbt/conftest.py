"""The dbt tests read the session's sample build (``sample_build`` in tests/conftest.py): the
generated 2021-2025 sample loaded by the real loader and built once by a real ``dbt build``, with
dbt's target/ and logs/ in tmp and the pipeline clock at 2026-01-15 (every programme year is over).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scorecard.core.settings import Settings


@dataclass(frozen=True)
class BuiltWarehouse:
    settings: Settings
    build_stdout: str
    build_ok: bool
    tmp: Path  # generated/ (the sample's files), dbt-target/ (the build's run_results.json)


@pytest.fixture(scope="session")
def built_warehouse(sample_build) -> Iterator[BuiltWarehouse]:
    """The session's sample build, with the environment pointing at it while the dbt tests run
    (read it; copy the warehouse to change anything)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        settings = sample_build.environment(monkeypatch, sample_build.home, sample_build.work)
        yield BuiltWarehouse(settings, sample_build.build_output, sample_build.build_ok, sample_build.work)
