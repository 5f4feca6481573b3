"""Alerts: new scorecards were published, or the quality gate failed -> evaluate the alert
lifecycle and deliver its state changes.

Only wiring lives here; the work is ``alerts.engine.deliver_alerts``.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from scorecard.airflow.assets import QUALITY_FAILURES, SCORECARDS
from scorecard.airflow.callbacks import alert_dag_arguments

DOC_MD = """
### 预警投递 Deliver alerts

**中文：** 新的评价结果发布（`scorecards`）或质量门禁未通过（`quality_failures`）时运行，
对照已保存的预警状态评估本次发布与质检结果（新出现、已解除、再次出现），按负责处室汇总为一条摘要，
经路由文件 `deploy/alerting/routing.yml` 配置的渠道发送（Alertmanager、钉钉、企业微信、飞书、webhook、邮件），
每次状态变化记入 JSON Lines 日志。任务失败时的运维预警由各任务的失败回调直接发给数据组。

**English:** runs when new scorecards are published (`scorecards`) or the quality gate fails
(`quality_failures`): evaluates the published alerts and the gate against the kept alert state
(firing, resolved, reopened), and sends the state changes as one digest per owner on the channels
of `deploy/alerting/routing.yml` (Alertmanager, DingTalk, WeCom, Feishu, webhook, e-mail); the
JSON-lines log records every change. Operational alerts for failed tasks are raised directly by
every task's failure callback (to the data team).
"""


@dag(
    dag_id="scorecard_alerts",
    description="Deliver alerts after publication or a failed gate 发布或质检失败后投递预警",
    schedule=(SCORECARDS | QUALITY_FAILURES),
    doc_md=DOC_MD,
    **alert_dag_arguments(),
)
def scorecard_alerts():
    @task  # reads the published snapshot, not the warehouse: no pool needed
    def deliver_alerts() -> dict:
        """Evaluate and deliver the alert changes 评估并投递预警状态变化。"""
        from scorecard.airflow.tasks import deliver

        return deliver()

    deliver_alerts()


scorecard_alerts()
