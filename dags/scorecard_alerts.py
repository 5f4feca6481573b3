"""Alerts: new scorecards were published, or the quality gate failed -> deliver the alerts.

Only wiring lives here; the work is ``warehouse.alerts.deliver_alerts``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scorecard.airflow_support import QUALITY_FAILURES, SCORECARDS, TAGS_COMMON, default_args

DOC_MD = """
### 预警投递 Deliver alerts

**中文：** 新的评价结果发布（`scorecards`）或质量门禁未通过（`quality_failures`）时运行，
投递待发预警（未完成目标、迟报漏报、异常值、质量失败等），写入预警目录（JSON Lines）并按配置发送邮件。
任务失败时的运维预警由各任务的失败回调直接写入。

**English:** runs when new scorecards are published (`scorecards`) or the quality gate fails
(`quality_failures`), and delivers the pending alerts (missed targets, late or missing
submissions, anomalies, quality failures) to the alerts folder (JSON Lines) and, if configured,
by e-mail. Operational alerts for failed tasks are raised directly by every task's failure callback.
"""


@dag(
    dag_id="scorecard_alerts",
    description="Deliver alerts after publication or a failed gate 发布或质检失败后投递预警",
    schedule=(SCORECARDS | QUALITY_FAILURES),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "alerts"],
    doc_md=DOC_MD,
)
def scorecard_alerts():
    @task  # reads the published snapshot, not the warehouse: no pool needed
    def deliver_alerts() -> dict:
        """Deliver the pending alerts 投递待发预警。"""
        from scorecard.airflow_support import deliver

        return deliver()

    deliver_alerts()


scorecard_alerts()
