"""Build: any department's submissions changed (or the daily deadline tick) -> ``dbt build``.

Only wiring lives here; the work is ``warehouse.dbt.dbt_build`` (a dbt subprocess, or a child of
the warm dbt worker when ``SCORECARD_DBT_WORKER`` is set).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, dag, get_current_context, task

from scorecard.airflow.assets import (
    DEADLINE_TICK,
    POOL,
    SUBMISSION_ASSETS,
    TAGS_COMMON,
    WAREHOUSE_BUILT,
    WAREHOUSE_QUEUE,
)
from scorecard.airflow.callbacks import default_args

DOC_MD = """
### 数据仓库构建 Build the warehouse

**中文：** 任一处室的报送资产（`submissions_<处室代码>`）更新，或每日截止期检查发出 `deadline_tick` 时运行。
以子进程执行 `dbt build`：报送触发时为增量构建（选择器 `after_submission`，
或按上次构建以来变动的原始表收窄，如 `after_values`；仅重算有变化的指标），
截止期检查触发、或项目与设置变更后为全量构建（`--full-refresh`，含种子与全部数据测试；
单元测试只在 CI 中运行）。
成功后发出 `warehouse_built` 资产事件，
触发质量检查与发布。同一时间只运行一个构建（`max_active_runs=1`）；运行期间到达的事件合并为下一次构建。
任务在 `warehouse` 队列上运行，占用单槽位池 `duckdb_writer`。

**English:** runs when any department's `submissions_<department>` asset changes, or when the daily
deadline check emits `deadline_tick`. Runs `dbt build` in a subprocess (or in the warm dbt worker,
`SCORECARD_DBT_WORKER`): incremental after submissions (selector `after_submission`, or
narrowed to the raw tables that moved since the last build, e.g. `after_values`: only the
measures whose data changed), full (`--full-refresh`, with seeds and every data test; unit tests
run in CI, not here) after the deadline tick or when the project or the settings changed since the
last full build. On success it emits `warehouse_built`, which starts the quality gate and
publication. One build at a time (`max_active_runs=1`); events that arrive meanwhile are merged
into the next build. The task runs on the `warehouse` queue in the one-slot `duckdb_writer` pool.
"""


@dag(
    dag_id="scorecard_build",
    description="dbt build after new submissions 新报送到达后重建数据仓库",
    schedule=AssetAny(*SUBMISSION_ASSETS.values(), DEADLINE_TICK),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "build", "dbt"],
    doc_md=DOC_MD,
)
def scorecard_build():
    @task(queue=WAREHOUSE_QUEUE, pool=POOL, outlets=[WAREHOUSE_BUILT])
    def dbt_build() -> dict:
        """``dbt build`` in a subprocess or the warm dbt worker 以子进程运行 dbt build。"""
        from scorecard.airflow.tasks import run_dbt_build

        context = get_current_context()
        summary = run_dbt_build(context)
        context["outlet_events"][WAREHOUSE_BUILT].extra = {
            "files": len(summary["files"]),
            "file_ids": [f.get("file_id") for f in summary["files"] if f.get("file_id") is not None],
        }
        return summary

    dbt_build()


scorecard_build()
