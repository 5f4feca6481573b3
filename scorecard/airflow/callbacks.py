"""Retry policy and the failure callback every DAG's tasks share. 重试策略与任务失败预警回调。

Importing this module does no I/O: ``default_args()`` is called while a DAG file is parsed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from scorecard.airflow.tasks import summarise

log = logging.getLogger(__name__)

# Retries with exponential backoff (30 s, 60 s, ... capped at 10 min). 指数退避重试。
DEFAULT_RETRIES = 2


def default_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "owner": "scorecard",
        "retries": DEFAULT_RETRIES,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": alert_on_failure,
    }
    args.update(overrides)
    return args


def alert_dag_arguments() -> dict[str, Any]:
    """The ``@dag`` arguments the two alert DAGs share (``scorecard_alerts`` after a publication or
    a failed gate, ``scorecard_alert_reminders`` every ten minutes): one run at a time, no
    catch-up, the shared retry policy and failure alert, the alert tags."""
    from scorecard.airflow.assets import TAGS_COMMON

    return {
        "start_date": datetime(2026, 1, 1),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(),
        "tags": [*TAGS_COMMON, "alerts"],
    }


def failure_record(context: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able description of a failed task, from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    return {
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
        "error": None if exception is None else f"{type(exception).__name__}: {exception}"[:2000],
    }


def alert_on_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: raise an operational alert for a task that failed for good.

    任务最终失败时，通过 alerts 向数据组发出运维预警（JSON Lines 必发；按路由发往各渠道）。
    One alert per failed try (its fingerprint names the try), delivered at once.
    """
    from alerts.engine import deliver_alerts
    from alerts.model import Alert

    record = failure_record(context)
    where = f"{record['dag_id']}.{record['task_id']}"
    alert = Alert(
        kind="pipeline_failure",
        severity="high",
        message_zh=f"流水线任务失败：{where}（运行 {record['run_id']}）：{record['error']}",
        message_en=f"Pipeline task failed: {where} (run {record['run_id']}): {record['error']}",
        scope="event",
        rule=f"{where}:{record['run_id']}:{record['map_index']}:{record['try_number']}",
        run_id=record["run_id"],
    )
    report = deliver_alerts(observations={}, events=[alert])
    log.error("Pipeline failure alert %s delivered: %s", alert.fingerprint, summarise(report))
