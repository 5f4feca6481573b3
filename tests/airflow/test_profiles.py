"""The two Airflow profiles: ``embedded`` (SQLite, LocalExecutor; the default) and ``distributed``
(PostgreSQL, CeleryExecutor, Redis), chosen by ``SCORECARD_AIRFLOW_PROFILE``. No service needed."""

from __future__ import annotations

import pytest

from scorecard.airflow.env import airflow_env, airflow_profile, distributed_env, worker_hostname


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, settings):
    import os

    for key in list(os.environ):
        if key.startswith("AIRFLOW__") or key in ("SCORECARD_AIRFLOW_PROFILE", "SCORECARD_AIRFLOW_DB"):
            monkeypatch.delenv(key)
    monkeypatch.delenv("SCORECARD_REDIS_DB", raising=False)
    return monkeypatch


def test_embedded_is_the_default_and_sets_no_distributed_service(clean_env, settings) -> None:
    assert airflow_profile() == "embedded"
    env = airflow_env(settings)
    assert env["SCORECARD_AIRFLOW_PROFILE"] == "embedded"
    assert "AIRFLOW__CORE__EXECUTOR" not in env  # Airflow's default: LocalExecutor on SQLite
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env
    assert "AIRFLOW__CELERY__BROKER_URL" not in env


def test_distributed_profile_points_at_postgres_celery_and_redis(clean_env, settings) -> None:
    clean_env.setenv("SCORECARD_AIRFLOW_PROFILE", "distributed")
    clean_env.setenv("SCORECARD_AIRFLOW_DB", "scorecard_x")
    clean_env.setenv("SCORECARD_REDIS_DB", "9")
    env = airflow_env(settings, port=8123)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        == "postgresql+psycopg2://postgres@127.0.0.1:5432/scorecard_x"
    )
    assert (
        env["AIRFLOW__CELERY__RESULT_BACKEND"]
        == "db+postgresql+psycopg2://postgres@127.0.0.1:5432/scorecard_x"
    )
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "2"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://localhost:8123/execution/"
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "scorecard.airflow.env.worker_hostname"


def test_settings_already_given_win(clean_env) -> None:
    given = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow@db/airflow",
        "AIRFLOW__CELERY__BROKER_URL_CMD": "cat /run/secrets/broker",
    }
    env = distributed_env(given)
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" not in env  # as given
    assert "AIRFLOW__CELERY__BROKER_URL" not in env  # its _CMD form is given (docker-compose)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_unknown_profile_is_refused(clean_env) -> None:
    clean_env.setenv("SCORECARD_AIRFLOW_PROFILE", "cluster")
    with pytest.raises(ValueError, match="embedded, distributed"):
        airflow_profile()


def test_worker_hostname(clean_env) -> None:
    import socket

    assert worker_hostname() == socket.getfqdn()
    clean_env.setenv("SCORECARD_WORKER_NAME", "warehouse-1")
    assert worker_hostname() == "warehouse-1"


@pytest.mark.parametrize("profile", ["embedded", "distributed"])
def test_a_slow_state_update_is_not_sent_twice(clean_env, settings, profile) -> None:
    """A task's final state update carries its asset events. Under load (average 5-9 on 2 cores)
    the demo's commit of 120 files took 6.9 s to record them; the workers' client gave up after
    Airflow's default 5 s and sent the update again, which hit a unique constraint
    (asset_alias_asset) and turned the committed, successful task into a failed one (no receipts
    sent). The workers must wait longer than that for an answer."""
    env = airflow_env(settings, profile=profile)
    assert float(env["AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT"]) >= 60
