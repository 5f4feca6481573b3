"""Deadlines: every day, re-judge submissions against their deadlines, even if nothing arrived.

Only wiring lives here: the task emits ``deadline_tick``, which rebuilds the warehouse with today's
date (late and missing submissions are dbt models judged against ``SCORECARD_AS_OF`` / today),
re-runs the gate, republishes, and the alerts DAG delivers the late-submission alerts.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task
from airflow.sdk.definitions.timetables.trigger import CronTriggerTimetable

from scorecard.airflow.assets import BEIJING, DEADLINE_TICK, POOL, TAGS_COMMON, WAREHOUSE_QUEUE
from scorecard.airflow.callbacks import default_args

DOC_MD = """
### 报送截止检查 Daily deadline check

**中文：** 每天 06:00（北京时间）运行，即使当天没有任何文件到达。发出 `deadline_tick` 资产事件，
以当天日期重建数据仓库（迟报、漏报由 dbt 模型按 `SCORECARD_AS_OF`/当天日期判定），重新质检并发布，
随后预警 DAG 投递迟报预警。数据仓库尚未建立（从未导入任何文件）时跳过。

**English:** runs every day at 06:00 Beijing time, even when no file arrives. Emits `deadline_tick`,
which rebuilds the warehouse as of today (late and missing submissions are dbt models judged against
`SCORECARD_AS_OF` or today), re-runs the gate and republishes; the alerts DAG then delivers the
late-submission alerts. Skipped while the warehouse does not exist yet (nothing ever loaded).
"""


@dag(
    dag_id="scorecard_deadlines",
    description="Daily late-submission check 每日报送截止检查",
    # 06:00 Beijing time, in Beijing time (the zone's name: resolved by the scheduler, not here)
    schedule=CronTriggerTimetable("0 6 * * *", timezone=BEIJING),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "deadlines", "alerts"],
    doc_md=DOC_MD,
)
def scorecard_deadlines():
    @task(queue=WAREHOUSE_QUEUE, pool=POOL, outlets=[DEADLINE_TICK])
    def deadline_tick() -> dict:
        """Ask for a rebuild as of today 以当天日期触发重建。"""
        from scorecard.airflow.tasks import deadline_check

        return deadline_check()

    deadline_tick()


scorecard_deadlines()
