"""Check and publish: the warehouse was rebuilt -> Soda gate -> publish, or report the failure.

Only wiring lives here; the work is ``quality.gate.run_gate``, ``warehouse.publish.publish`` and
``reports.release.render_release``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from scorecard.airflow.assets import (
    POOL,
    QUALITY_FAILURES,
    SCORECARDS,
    TAGS_COMMON,
    WAREHOUSE_BUILT,
    WAREHOUSE_QUEUE,
)
from scorecard.airflow.callbacks import default_args

DOC_MD = """
### 质量检查与发布 Quality gate and publication

**中文：** 数据仓库重建（`warehouse_built`）后运行 Soda 质量门禁。全部通过则发布快照（Parquet 与清单），
并发出 `scorecards` 资产事件，触发预警投递；未通过则不发布，发出 `quality_failures` 资产事件（附失败的检查），
并将本次运行标记为失败。检查与发布任务在 `warehouse` 队列上运行，占用单槽位池 `duckdb_writer`；
报告与工作簿随后由 `render_release` 在池外从新发布生成，不占写入槽位。

**English:** after the warehouse is rebuilt (`warehouse_built`), runs the Soda quality gate. If it
passes, publishes the snapshot (Parquet and manifest) and emits `scorecards`, which starts alert
delivery. If it fails, nothing is published: `quality_failures` is emitted with the failed checks
and the run is marked failed. The gate and publication run on the `warehouse` queue, in the
one-slot `duckdb_writer` pool; the report and workbook are then rendered from the new release by
`render_release`, outside the pool, so the writer slot is free while they render.
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
    @task(queue=WAREHOUSE_QUEUE, pool=POOL)
    def quality_gate() -> dict:
        """Run every Soda contract 运行全部 Soda 数据契约。"""
        from scorecard.airflow.tasks import run_quality_gate

        return run_quality_gate()

    @task.branch
    def gate_passed(gate: dict) -> str:
        """Publish only on a passing gate 仅在门禁通过时发布。"""
        return "publish_snapshot" if gate["ok"] else "report_quality_failure"

    @task(queue=WAREHOUSE_QUEUE, pool=POOL, outlets=[SCORECARDS])
    def publish_snapshot(gate: dict) -> dict:
        """Publish the marts as a snapshot 发布快照。"""
        from scorecard.airflow.tasks import publish_after_gate

        return publish_after_gate(gate, get_current_context()["outlet_events"])

    # Outside the pool: rendering reads the release, not the warehouse, so the writer slot is
    # free for the next ingest or build while the report and workbook are written.
    @task
    def render_release(published: dict) -> dict:
        """Render the report and workbook of the new release 由新发布生成报告与工作簿。"""
        from scorecard.airflow.tasks import render_published

        return render_published(published)

    @task(outlets=[QUALITY_FAILURES])
    def report_quality_failure(gate: dict) -> dict:
        """Announce the failed checks (the alerts DAG delivers them) 发布质量失败事件。"""
        get_current_context()["outlet_events"][QUALITY_FAILURES].extra = {
            "gate_run_id": gate["run_id"],
            "results_path": gate["results_path"],
            "failures": gate["failures"][:20],
        }
        return gate

    # no failure alert: the alerts DAG delivers the failed checks themselves
    @task(retries=0, on_failure_callback=[])
    def fail_run(gate: dict) -> None:
        """Mark this run failed: nothing was published 标记运行失败（未发布）。"""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"quality gate failed, nothing published: {gate['failures'][:5]}")

    gate = quality_gate()
    failure = report_quality_failure(gate)
    published = publish_snapshot(gate)
    gate_passed(gate) >> [published, failure]
    render_release(published)
    failure >> fail_run(gate)


scorecard_check_publish()
