"""The Airflow assets and what every DAG shares: departments, the warehouse pool, queues, tags,
the programme's clock. Airflow 资产与各 DAG 共用的设定（部门、仓库写入池、队列、标签、时区）。

The DAG files in ``dags/`` only wire tasks together; what they share is defined here, in the
installed package, so the scheduler, the workers, the tests and the demo agree on one definition.
Importing this module does no I/O (no settings are read, no files are opened): DAG parsing stays
cheap.

Asset graph (资产图)::

    inbox (AssetWatcher: scorecard.airflow.inbox.InboxTrigger)
      -> scorecard_ingest          claimed_files -> parse_submissions (mapped, any worker)
                                   -> commit_submissions (warehouse queue, pool)
                                   emits submissions_<department> (via the alias "submissions")
    submissions_* | deadline_tick
      -> scorecard_build           dbt build            emits warehouse_built
    warehouse_built
      -> scorecard_check_publish   Soda gate, then publish, in one pool task: emits scorecards,
                                   or quality_failures (via the alias "gate_outcome")
    scorecards | quality_failures
      -> scorecard_alerts          evaluate the alert lifecycle, deliver the changes
    every 10 minutes
      -> scorecard_alert_reminders reminders, settling windows that closed, undelivered changes
    @daily
      -> scorecard_deadlines       late-submission check emits deadline_tick (and delivers alerts)
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias, AssetWatcher

from scorecard.airflow.inbox import InboxTrigger

# The nine submitting divisions (dbt_project/seeds/departments.csv; a test keeps them equal).
# Hard-coded so that parsing a DAG never reads the seed file.
DEPARTMENTS: tuple[str, ...] = (
    "social_assistance",
    "child_welfare",
    "social_welfare",
    "elderly_care",
    "charity_social_work",
    "community_governance",
    "social_affairs",
    "place_names",
    "resettlement",
)
UNASSIGNED = "unassigned"  # a file whose department the loader could not tell

# DuckDB allows one writer process per file: every task that opens the warehouse runs in this pool.
POOL = "duckdb_writer"
POOL_SLOTS = 1
POOL_DESCRIPTION = "DuckDB warehouse: one process at a time (DuckDB 单进程写锁)"

# Celery queues (the distributed profile; LocalExecutor ignores them). Every task that opens the
# warehouse goes to WAREHOUSE_QUEUE, which one worker serves (the host that holds the DuckDB file),
# and through the pool; stateless work (claiming, parsing, alert delivery) goes to DEFAULT_QUEUE,
# which every worker serves. docs/distributed.md explains the topology.
DEFAULT_QUEUE = "default"
WAREHOUSE_QUEUE = "warehouse"

# Parsing fans out over at most this many mapped tasks per ingest run (each takes a share of the
# run's files); SCORECARD_PARSE_TASKS overrides it at run time (e.g. the number of worker slots).
PARSE_TASKS = 4
# A run with at most this many files of at most this many bytes together is parsed inside
# claimed_files: a mapped parse task would cost a task start (a scheduler hop and a process) for
# a parse of a fraction of a second, on the way of every single department's file.
INLINE_PARSE_MAX_FILES = 4
INLINE_PARSE_MAX_BYTES = 1 << 20
# Ingest runs at once: one loading, one more to adopt claims made after the first run adopted its
# own (a file renamed in during a slow first scan); events that arrive meanwhile wait and are
# merged into the next run. Each run adopts every unadopted claim, so more runs only ran
# claimed_files for nothing: `make demo` (120 files at once) made 8 runs, 7 of which found nothing
# and held 4 of the 4 executor slots while the one run that had all the files waited to parse.
INGEST_MAX_ACTIVE_RUNS = 2
# Where parse tasks leave validated rows for the commit task: <SCORECARD_HOME>/staged/<claim>/.
STAGED_DIRNAME = "staged"

TAGS_COMMON = ["scorecard", "共同富裕"]

# The programme's clock: schedules are written in Beijing time. A zone name, not a tz object:
# parsing a DAG file reads no tz database; the scheduler resolves the name.
BEIJING = "Asia/Shanghai"

URI_PREFIX = "scorecard://"

INBOX = Asset(
    name="inbox",
    uri=f"{URI_PREFIX}inbox",
    watchers=[AssetWatcher(name="inbox_watcher", trigger=InboxTrigger())],
)
SUBMISSIONS_ALIAS = AssetAlias(name="submissions")


def submissions_asset(department: str | None) -> Asset:
    """The asset that changes when a department's submission is loaded (one per department)."""
    code = department or UNASSIGNED
    return Asset(name=f"submissions_{code}", uri=f"{URI_PREFIX}submissions/{code}")


SUBMISSION_ASSETS: dict[str, Asset] = {code: submissions_asset(code) for code in (*DEPARTMENTS, UNASSIGNED)}
DEADLINE_TICK = Asset(name="deadline_tick", uri=f"{URI_PREFIX}deadlines/tick")
WAREHOUSE_BUILT = Asset(name="warehouse_built", uri=f"{URI_PREFIX}warehouse/built")
SCORECARDS = Asset(name="scorecards", uri=f"{URI_PREFIX}publish/scorecards")
QUALITY_FAILURES = Asset(name="quality_failures", uri=f"{URI_PREFIX}quality/failures")
# The check-and-publish task announces one of the two through this alias: SCORECARDS when it
# published, QUALITY_FAILURES when the gate failed (a static outlet would announce both).
GATE_OUTCOME = AssetAlias(name="gate_outcome")
