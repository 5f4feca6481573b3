"""Check and publish: the warehouse was rebuilt -> Soda gate, then publish (one task, in the
writer pool), or announce the failure.

Only wiring lives here; the work is ``quality.gate.run_gate`` and ``warehouse.publish.publish``
(through ``scorecard.airflow.tasks.check_and_publish``), then ``reports.release.render_release``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from scorecard.airflow.assets import (
    GATE_OUTCOME,
    POOL,
    TAGS_COMMON,
    WAREHOUSE_BUILT,
    WAREHOUSE_QUEUE,
)
from scorecard.airflow.callbacks import default_args

DOC_MD = """
### 质量检查与发布 Quality gate and publication

**中文：** 数据仓库重建（`warehouse_built`）后运行 Soda 质量门禁。全部通过则在同一任务中发布快照
（Parquet 与清单），并发出 `scorecards` 资产事件，触发预警投递；未通过则不发布，
发出 `quality_failures` 资产事件（附失败的检查），并由 `fail_run` 将本次运行标记为失败。
检查与发布在同一个任务中完成（`warehouse` 队列、单槽位池 `duckdb_writer`），
其间其他构建不能改动数据集市；报告与工作簿随后由 `render_release` 在池外从新发布生成，不占写入槽位。

**English:** after the warehouse is rebuilt (`warehouse_built`), runs the Soda quality gate and,
if it passes, publishes the snapshot (Parquet and manifest) in the same task and emits
`scorecards`, which starts alert delivery. If it fails, nothing is published: `quality_failures`
is emitted with the failed checks and `fail_run` marks the run failed. The check and the
publication are one task on the `warehouse` queue, in the one-slot `duckdb_writer` pool, so no
build can change the marts between them; the report and workbook are then rendered from the new
release by `render_release`, outside the pool, so the writer slot is free while they render.
"""


@dag(
    dag_id="scorecard_check_publish",
    description="Soda gate, then publish the scorecards 质量门禁后发布评价结果",
    schedule=[WAREHOUSE_BUILT],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "quality", "publish"],
    doc_md=DOC_MD,
)
def scorecard_check_publish():
    @task(queue=WAREHOUSE_QUEUE, pool=POOL, outlets=[GATE_OUTCOME])
    def check_and_publish() -> dict:
        """Run every Soda contract; publish the snapshot if they pass
        运行全部 Soda 数据契约，通过后发布快照。"""
        from scorecard.airflow.tasks import check_and_publish as work

        return work(get_current_context()["outlet_events"])

    # Outside the pool: rendering reads the release, not the warehouse, so the writer slot is
    # free for the next ingest or build while the report and workbook are written.
    @task
    def render_release(outcome: dict) -> dict:
        """Render the report and workbook of the new release (skipped when nothing was published)
        由新发布生成报告与工作簿。"""
        from scorecard.airflow.tasks import render_outcome

        return render_outcome(outcome)

    # no failure alert: the alerts DAG delivers the failed checks themselves
    @task(retries=0, on_failure_callback=[])
    def fail_run(outcome: dict) -> None:
        """Skipped when published; fails the run when nothing was published 未发布时标记运行失败。"""
        from scorecard.airflow.tasks import fail_unless_published

        fail_unless_published(outcome)

    outcome = check_and_publish()
    render_release(outcome)
    fail_run(outcome)


scorecard_check_publish()
