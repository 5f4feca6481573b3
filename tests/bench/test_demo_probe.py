"""The ``make demo`` probe of ``make bench`` (bench/demo_probe.py) reads the demo's own timings
line and runs the clone with none of this checkout's settings."""

from __future__ import annotations

from bench.demo_probe import clean_env, parse_timings

OUTPUT = """[demo 07:40:01] published run 20261207T074001-ab covering all 120 files
...
published snapshot 发布快照: /x/var/publish/scorecards.duckdb
timings: airflow healthy 19.2 s, drop to publication 44.6 s, drop to report 48.1 s, total 80.3 s
[demo 07:40:20] stopping Airflow (SIGINT) ...
"""


def test_the_timings_line_is_read_by_name() -> None:
    assert parse_timings(OUTPUT) == {
        "airflow healthy": 19.2,
        "drop to publication": 44.6,
        "drop to report": 48.1,
        "total": 80.3,
    }
    # whole seconds (the demo's format before one decimal), and no line at all
    assert parse_timings("timings: airflow healthy 19 s, total 80 s\n") == {
        "airflow healthy": 19.0,
        "total": 80.0,
    }
    assert parse_timings("[demo 07:40:01] FAILED: Airflow not healthy after 300 s\n") == {}


def test_the_clone_gets_none_of_this_checkouts_settings() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "SCORECARD_HOME": "/tmp/bench/home",
        "SCORECARD_DBT_WORKER": "/tmp/w.sock",
        "DBT_TARGET_PATH": "/tmp/target",
        "AIRFLOW_HOME": "/tmp/airflow",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "VIRTUAL_ENV": "/work/main/.venv",
        "UV_PROJECT_ENVIRONMENT": "/work/main/.venv",
        "UV_CACHE_DIR": "/root/.cache/uv",
    }
    assert clean_env(environ) == {"PATH": "/usr/bin", "HOME": "/root", "UV_CACHE_DIR": "/root/.cache/uv"}
