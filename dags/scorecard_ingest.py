"""Ingest: a file lands in the inbox -> it is loaded -> its department's asset changes.

Only wiring lives here; the work is ``ingest.loader.load_file`` (through
``scorecard.airflow_support.load_claim``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from scorecard.airflow_support import (
    INBOX,
    POOL,
    SUBMISSIONS_ALIAS,
    TAGS_COMMON,
    default_args,
)

DOC_MD = """
### 报送文件导入 Ingest submissions

**中文：** 各处室把报送文件放入收件箱 `inbox/<处室代码>/`。触发器（`InboxTrigger`，运行在 triggerer 中）
以原子改名方式认领每个文件，移入 `processing/`，并产生一个 `inbox` 资产事件，从而启动本 DAG。
每个文件由加载器导入原始层（`raw`），成功后归档到 `archive/`，被拒的文件移到 `rejected/`。
导入后按处室发出资产事件 `submissions_<处室代码>`（附文件哈希、报告期、文件编号与状态），触发数据仓库重建。
手工或补录运行：以 `{"path": "/路径/文件.xlsx", "department": "elderly_care"}` 作为 conf 触发。

**English:** departments drop files into `inbox/<department_code>/`. The `InboxTrigger` in the
triggerer claims each file by an atomic rename into `processing/` and emits an `inbox` asset event,
which starts this DAG. The loader loads each file into the raw layer and moves it to `archive/`
(or `rejected/`). Each load emits an asset event on `submissions_<department>` carrying the file
hash, periods, file id and status, which starts the warehouse build. For a manual or backfill
run, trigger with conf `{"path": "/path/file.xlsx", "department": "elderly_care"}`.
"""


@dag(
    dag_id="scorecard_ingest",
    description="Load submission files from the inbox 导入收件箱中的报送文件",
    schedule=[INBOX],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=8,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "ingest"],
    doc_md=DOC_MD,
    params={"path": None, "paths": [], "department": None},
)
def scorecard_ingest():
    @task
    def claimed_files() -> list[dict]:
        """Files to load in this run 本次运行需导入的文件（触发器事件或 conf）。"""
        from scorecard.airflow_support import claims_from_context

        return claims_from_context(get_current_context())

    @task(pool=POOL, outlets=[SUBMISSIONS_ALIAS])
    def load_submissions(claims: list[dict]) -> list[dict]:
        """Load the files; one asset event per file on its department's asset
        导入文件，并按处室发布资产事件。"""
        from scorecard.airflow_support import load_claims

        return load_claims(claims, get_current_context()["outlet_events"])

    load_submissions(claimed_files())


scorecard_ingest()
