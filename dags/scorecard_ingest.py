"""Ingest: a file lands in the inbox -> it is parsed (any worker) -> committed (the warehouse
worker) -> its department's asset changes.

Only wiring lives here; the work is ``ingest.loader.stage_file`` and ``ingest.loader.commit_staged``
(through ``scorecard.airflow.tasks.parse_claims`` and ``commit_claims``).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import TriggerRule, dag, get_current_context, task

from scorecard.airflow.assets import (
    DEFAULT_QUEUE,
    INBOX,
    INGEST_MAX_ACTIVE_RUNS,
    POOL,
    SUBMISSIONS_ALIAS,
    TAGS_COMMON,
    WAREHOUSE_QUEUE,
)
from scorecard.airflow.callbacks import default_args

DOC_MD = """
### 报送文件导入 Ingest submissions

**中文：** 各处室把报送文件放入收件箱 `inbox/<处室代码>/`。触发器（`InboxTrigger`，运行在 triggerer 中）
以原子改名方式认领每个文件，移入 `processing/`，并产生一个 `inbox` 资产事件，从而启动本 DAG。
`parse_submissions`（可在任一 worker 上并行）读取并校验文件，将有效行与隔离行写成 Parquet（`staged/`），
不打开数据仓库（不超过 4 个、合计不超过 1 MiB 的小文件由 `claimed_files` 就地解析）；
`commit_submissions`（`warehouse` 队列、单槽位池）在一个事务中写入原始层（`raw`）与台账，
成功后归档到 `archive/`，被拒的文件移到 `rejected/`。
`send_receipts` 向每个文件的处室（未知文件夹则为数据组）发送回执（导入了什么、拒收了什么及原因）；
有文件被整体拒收时该任务失败（不重试），运行不显示为成功。
导入后按处室发出资产事件 `submissions_<处室代码>`（附文件哈希、报告期、文件编号与状态），触发数据仓库重建。
手工运行：以 `{"path": "/路径/inbox/文件.xlsx", "department": "elderly_care"}` 作为 conf 触发；
补录：把文件放入 `backfill/<处室代码>/`，以 `{"paths": [...]}` 触发（其他路径立即失败，不重试）。

**English:** departments drop files into `inbox/<department_code>/`. The `InboxTrigger` in the
triggerer claims each file by an atomic rename into `processing/` and emits an `inbox` asset event,
which starts this DAG. `parse_submissions` (mapped: any worker, in parallel) reads and validates
the files and writes the valid and quarantined rows as Parquet under `staged/`, without opening
the warehouse (a run of at most 4 files of at most 1 MiB is parsed by `claimed_files` itself);
`commit_submissions` (queue `warehouse`, the one-slot pool) writes them into the raw
layer with their ledger rows, one transaction per file, and moves each file to `archive/`
(or `rejected/`). `send_receipts` tells each file's department (the data team for an unknown
folder) what was loaded and what was refused and why, through the alert channels; when a file
was refused whole it then fails (no retry), so the run is not green. Each load emits an asset
event on `submissions_<department>` carrying the file
hash, periods, file id and status, which starts the warehouse build. For a manual run, trigger
with conf `{"path": "/path/inbox/file.xlsx", "department": "elderly_care"}`; for a backfill, put
the files into `backfill/<department>/` and name them in `{"paths": [...]}` (any other path fails
at once, without retries; docs/operations.md).
"""


@dag(
    dag_id="scorecard_ingest",
    description="Load submission files from the inbox 导入收件箱中的报送文件",
    schedule=[INBOX],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=INGEST_MAX_ACTIVE_RUNS,
    default_args=default_args(),
    tags=[*TAGS_COMMON, "ingest"],
    doc_md=DOC_MD,
    params={"path": None, "paths": [], "department": None},
)
def scorecard_ingest():
    @task(queue=DEFAULT_QUEUE)
    def claimed_files() -> list[list[dict]]:
        """Files to load in this run: a few small ones parsed here (XCom ``staged``), else batches
        for the parse tasks 本次运行需导入的文件（触发器事件或 conf）：少量小文件就地解析，否则分批解析。"""
        from scorecard.airflow.tasks import claims_from_context, plan_parse

        context = get_current_context()
        plan = plan_parse(claims_from_context(context))
        context["ti"].xcom_push(key="staged", value=plan["staged"])
        return plan["batches"]

    @task(queue=DEFAULT_QUEUE)  # stateless: no pool, any worker
    def parse_submissions(batch: list[dict]) -> list[dict]:
        """Read and validate files into staged Parquet 解析并校验文件（不打开数据仓库）。"""
        from scorecard.airflow.tasks import parse_claims

        return parse_claims(batch)

    # runs after the parse tasks, or with none mapped when claimed_files parsed the files itself
    @task(
        queue=WAREHOUSE_QUEUE,
        pool=POOL,
        outlets=[SUBMISSIONS_ALIAS],
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )
    def commit_submissions(staged: list[list[dict]], parsed_in_claim: list[dict]) -> list[dict]:
        """Commit the staged files into the warehouse; one asset event per file on its
        department's asset 写入数据仓库，并按处室发布资产事件。"""
        from scorecard.airflow.tasks import commit_claims

        return commit_claims([*staged, parsed_in_claim], get_current_context()["outlet_events"])

    # a refused file fails this last task at once (no retry, no pipeline-failure alert): the run
    # is not green, and the department already has its receipt
    @task(queue=DEFAULT_QUEUE, retries=0, on_failure_callback=[])
    def send_receipts(loaded: list[dict]) -> dict:
        """Send every file's receipt to its department; fail if a file was refused
        向各处室发送文件回执；有文件被拒收时标记失败。"""
        from scorecard.airflow.tasks import send_receipts as send

        return send(loaded)

    claimed = claimed_files()
    staged = parse_submissions.expand(batch=claimed)
    send_receipts(commit_submissions(staged, claimed["staged"]))


scorecard_ingest()
