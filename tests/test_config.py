import re
from datetime import date
from pathlib import Path

import pytest

from scorecard.core.settings import REPO_ROOT, get_settings


def test_default_home_is_var_in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCORECARD_HOME", raising=False)
    settings = get_settings()
    assert settings.home == REPO_ROOT / "var"
    assert settings.warehouse_path == REPO_ROOT / "var" / "warehouse.duckdb"


def test_one_variable_moves_all_runtime_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path / "data"))
    settings = get_settings()
    runtime_paths = [
        settings.inbox,
        settings.processing,
        settings.archive,
        settings.rejected,
        settings.publish,
        settings.alerts_dir,
        settings.warehouse_path,
    ]
    assert all(path.is_relative_to(tmp_path / "data") for path in runtime_paths)
    settings.ensure_dirs()
    assert settings.inbox.is_dir() and settings.publish.is_dir()


def test_child_processes_see_the_same_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path))
    monkeypatch.setenv("SCORECARD_AS_OF", "2024-06-30")
    monkeypatch.setenv("SCORECARD_LAST_YEAR", "2026")
    env = get_settings().subprocess_env()
    assert env["SCORECARD_WAREHOUSE"] == str(tmp_path / "warehouse.duckdb")
    assert env["SCORECARD_AS_OF"] == "2024-06-30"
    assert env["SCORECARD_LAST_YEAR"] == "2026"
    assert env["DBT_PROFILES_DIR"].endswith("dbt_project")
    assert env["SODA_CORE_TELEMETRY_ENABLED"] == "false"
    assert env["SCORECARD_DUCKDB_MEMORY_LIMIT"] == "1GB"  # the default


def test_dbt_and_publication_get_their_duckdb_memory_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path))
    monkeypatch.setenv("SCORECARD_DUCKDB_MEMORY_LIMIT", "512MB")
    monkeypatch.setenv("SCORECARD_DBT_MEMORY_LIMIT", "300MB")
    settings = get_settings()
    assert settings.duckdb_memory_limit == "512MB"
    env = settings.subprocess_env()
    assert env["SCORECARD_DUCKDB_MEMORY_LIMIT"] == "512MB"
    assert env["SCORECARD_DBT_MEMORY_LIMIT"] == "300MB"  # passed through to dbt
    profile = (settings.dbt_project_dir / "profiles.yml").read_text(encoding="utf-8")
    # dbt's own limit (dbt itself holds ~270 MiB beside DuckDB; issue #22, every stage <= 1 GiB)
    assert "memory_limit: \"{{ env_var('SCORECARD_DBT_MEMORY_LIMIT', '640MB') }}\"" in profile


@pytest.mark.slow  # starts dbt
def test_dbt_threads_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two dbt threads unless SCORECARD_DBT_THREADS says otherwise (bench/notes.md, issue #22: two
    cut a national build after a file by ~0.8 s of 6.7 s, and left drops under Airflow at province
    scale as they were, p50 10.4 s against 10.2 s); an empty value (a compose file's ${VAR:-})
    counts as unset. Seen in what dbt itself reports."""
    from warehouse.dbt import run_dbt

    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path))
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "dbt-target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "dbt-logs"))
    reported = {}
    for value in (None, "", "1"):
        if value is None:
            monkeypatch.delenv("SCORECARD_DBT_THREADS", raising=False)
        else:
            monkeypatch.setenv("SCORECARD_DBT_THREADS", value)
        result = run_dbt(["seed", "--select", "zones"], get_settings())
        assert result.ok, result.stdout + result.stderr
        reported[value] = re.search(r"Concurrency: (\d+) threads", result.stdout).group(1)
    assert reported == {None: "2", "": "2", "1": "1"}


def test_the_pipeline_clock_follows_as_of(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECARD_AS_OF", "2023-03-01")
    settings = get_settings()
    assert settings.today() == date(2023, 3, 1)
    assert settings.now().date() == date(2023, 3, 1)


def test_a_malformed_as_of_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORECARD_AS_OF", "2023/03/01")
    with pytest.raises(ValueError):
        get_settings()
