"""Alert reminders: every ten minutes, re-evaluate the alert lifecycle without a new publication.

Only wiring lives here; the work is ``alerts.engine.deliver_alerts``: reminders of
alerts still firing, quality alerts held by the settling window once it closed, and changes a
channel could not take earlier.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from scorecard.airflow.callbacks import alert_dag_arguments

DOC_MD = """
### 预警提醒 Alert reminders and settling windows

**中文：** 每 10 分钟运行一次：对仍未解除的预警按设定间隔发送提醒；批量报送的静默期结束后，
若数据仍不完整，发出此前暂缓的完整性预警；补发此前未能送达的状态变化与文件回执。

**English:** every ten minutes: reminders for alerts still firing (on the configured interval);
completeness alerts held while a submission wave was arriving go out if the data is still
incomplete when the settling window closes; changes and receipts a channel could not take
earlier are sent again.
"""


@dag(
    dag_id="scorecard_alert_reminders",
    description="Alert reminders and settling windows 预警提醒与静默期",
    schedule=timedelta(minutes=10),
    doc_md=DOC_MD,
    **alert_dag_arguments(),
)
def scorecard_alert_reminders():
    @task
    def evaluate_alerts() -> dict:
        """Re-evaluate and deliver 重新评估并投递预警。"""
        from scorecard.airflow.tasks import deliver

        return deliver()

    evaluate_alerts()


scorecard_alert_reminders()
