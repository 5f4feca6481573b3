"""What the Airflow DAGs share: assets, the warehouse pool, retry policy and failure alerts.
Airflow DAG 共用的定义：资产、仓库写入池、重试策略与失败预警。

The DAG files in ``dags/`` only wire tasks together; everything they share is defined here, in the
installed package, so the scheduler, the workers, the tests and the demo agree on one definition.
Importing this module does no I/O (no settings are read, no files are opened): DAG parsing stays
cheap.

Asset graph (资产图)::

    inbox (AssetWatcher: scorecard.triggers.InboxTrigger)
      -> scorecard_ingest          claimed_files -> parse_submissions (mapped, any worker)
                                   -> commit_submissions (warehouse queue, pool)
                                   emits submissions_<department> (via the alias "submissions")
    submissions_* | deadline_tick
      -> scorecard_build           dbt build            emits warehouse_built
    warehouse_built
      -> scorecard_check_publish   Soda gate, publish   emits scorecards, or quality_failures
    scorecards | quality_failures
      -> scorecard_alerts          evaluate the alert lifecycle, deliver the changes
    every 10 minutes
      -> scorecard_alert_reminders reminders, settling windows that closed, undelivered changes
    @daily
      -> scorecard_deadlines       late-submission check emits deadline_tick (and delivers alerts)
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetWatcher
from airflow.sdk.exceptions import AirflowFailException

from scorecard.triggers import InboxTrigger

log = logging.getLogger(__name__)

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

# Retries with exponential backoff (30 s, 60 s, ... capped at 10 min). 指数退避重试。
DEFAULT_RETRIES = 2


def default_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "owner": "scorecard",
        "retries": DEFAULT_RETRIES,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": alert_on_failure,
    }
    args.update(overrides)
    return args


def failure_record(context: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able description of a failed task, from an Airflow callback context."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    return {
        "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
        "error": None if exception is None else f"{type(exception).__name__}: {exception}"[:2000],
    }


def alert_on_failure(context: dict[str, Any]) -> None:
    """``on_failure_callback``: raise an operational alert for a task that failed for good.

    任务最终失败时，通过 alerts 向数据组发出运维预警（JSON Lines 必发；按路由发往各渠道）。
    One alert per failed try (its fingerprint names the try), delivered at once.
    """
    from alerts.engine import deliver_alerts
    from alerts.model import Alert

    record = failure_record(context)
    where = f"{record['dag_id']}.{record['task_id']}"
    alert = Alert(
        kind="pipeline_failure",
        severity="high",
        message_zh=f"流水线任务失败：{where}（运行 {record['run_id']}）：{record['error']}",
        message_en=f"Pipeline task failed: {where} (run {record['run_id']}): {record['error']}",
        scope="event",
        rule=f"{where}:{record['run_id']}:{record['map_index']}:{record['try_number']}",
        run_id=record["run_id"],
    )
    report = deliver_alerts(observations={}, events=[alert])
    log.error("Pipeline failure alert %s delivered: %s", alert.fingerprint, summarise(report))


# ---------------------------------------------------------------------------------------------
# Task helpers (called inside tasks, never at parse time). 任务内部调用的辅助函数。


def claims_from_context(context: Any) -> list[dict[str, Any]]:
    """The files this ingest run loads, each adopted by the run (an atomic rename of its claim
    folder to ``<claim-id>@<run>``), so no other run loads it too.

    Sources: the inbox watcher's events that started the run (several files dropped together can
    land in one run), files named in ``conf`` (``{"path": ...}`` or ``{"paths": [...]}``,
    optionally ``"department"``; a path inside the inbox is claimed first, a path elsewhere is
    loaded in place), and every other claim in ``processing/`` that no run has adopted: an asset
    event committed a moment after the scheduler created the previous run is in no run's
    triggering events, and its file would otherwise wait for the trigger's sweep.
    """
    from pathlib import Path

    from scorecard.config import get_settings
    from scorecard.triggers import InboxScanner, adopt, claim_payload

    settings = get_settings()
    dag_run = context.get("dag_run")
    run_id = str(getattr(dag_run, "run_id", None) or "manual")
    owner = hashlib.sha1(run_id.encode()).hexdigest()[:10]
    processing = settings.processing.resolve()

    candidates: list[dict[str, Any]] = []
    events = context.get("triggering_asset_events") or {}
    try:
        inbox_events = list(events[INBOX]) if events else []
    except KeyError:
        inbox_events = []
    for event in inbox_events:
        extra = dict(getattr(event, "extra", None) or {})
        payload = extra.get("payload", extra)
        if isinstance(payload, dict) and payload.get("path"):
            candidates.append(dict(payload))
    conf = dict(getattr(dag_run, "conf", None) or {})
    paths = list(conf.get("paths") or [])
    if conf.get("path"):
        paths.insert(0, conf["path"])
    if paths:
        candidates.extend(claim_manual_paths(paths, department=conf.get("department")))
    scanner = InboxScanner(settings.inbox, settings.processing, min_age_seconds=0)
    known = {c["path"] for c in candidates}
    candidates.extend(
        claim_payload(path, processing)
        for path in scanner.unowned_claims(older_than_seconds=0)
        if str(path) not in known
    )

    claims: list[dict[str, Any]] = []
    for candidate in candidates:
        path = Path(candidate["path"])
        if not path.resolve().is_relative_to(processing):
            claims.append(candidate)  # a manual path outside our folders: loaded in place
            continue
        owned = adopt(path, owner)
        if owned is None:
            log.info("%s was adopted by another run (or is gone); skipping", path)
            continue
        claims.append({**candidate, "path": str(owned)})
    return claims


class RequestRefused(AirflowFailException):
    """A run's conf names a file that may not or cannot be loaded: retrying cannot change that, so
    the task fails at once (AirflowFailException: no retries) instead of three tries 30 s apart."""


def in_backfill_folder(raw: str, settings: Any) -> bool:
    """``raw`` names a file in ``<SCORECARD_HOME>/backfill/`` (no ``..``, no linked folder)."""
    import os
    from pathlib import Path

    from ingest.loader import unsafe_path

    path = Path(raw)
    backfill = settings.backfill
    if ".." in path.parts or not Path(os.path.abspath(path)).is_relative_to(os.path.abspath(backfill)):
        return False
    if unsafe_path(raw, settings) is not None:
        return False
    return path.parent.resolve().is_relative_to(backfill.resolve())


def claim_manual_paths(paths: list[str], *, department: str | None = None) -> list[dict[str, Any]]:
    """Claims for files named in ``conf``: files in the inbox are claimed like the watcher does;
    files in the backfill folder are loaded in place (a copy is archived). Anything else, or a
    file that does not exist, fails the task at once with :class:`RequestRefused`."""
    from pathlib import Path

    from ingest.loader import unsafe_path
    from scorecard.config import get_settings
    from scorecard.triggers import InboxScanner

    settings = get_settings()
    inbox = settings.inbox.resolve()
    scanner = InboxScanner(settings.inbox, settings.processing, min_age_seconds=0)
    claims: list[dict[str, Any]] = []
    for raw in paths:
        raw = str(raw)
        # A run's conf is a request, not an operator's shell: only files already in the inbox,
        # the processing folder or the backfill folder may be named (never /etc/passwd, never a
        # '..' escape).
        refusal = unsafe_path(raw, settings, confine=True)
        if refusal and not in_backfill_folder(raw, settings):
            raise RequestRefused(
                f"conf names {raw!r}, which is refused 已拒绝: {refusal}; put backfill files in "
                f"{settings.backfill}/<department>/ (docs/operations.md)"
            )
        path = Path(raw).expanduser().resolve()
        if not path.is_file():
            raise RequestRefused(f"文件不存在 / no such file: conf names {path}")
        if path.is_relative_to(inbox):
            claim = scanner.claim(path, path.relative_to(inbox), path.stat().st_size)
            if claim is None:
                raise FileNotFoundError(f"{path} was claimed by someone else meanwhile")
            payload = claim.payload()
        else:
            payload = {
                "path": str(path),
                "original_name": path.name,
                "department": None,
                "size": path.stat().st_size,
                "relative_path": path.name,
            }
        if department:
            payload["department"] = department
        payload["manual"] = True
        claims.append(payload)
    return claims


def parse_batches(claims: list[dict[str, Any]], tasks: int | None = None) -> list[list[dict[str, Any]]]:
    """Split a run's claims into at most ``tasks`` batches (one mapped parse task each), keeping
    the claim order in a ``seq`` field so the commit loads the files in the order they were
    claimed. An empty list maps to no parse task (and the commit is skipped)."""
    import os

    if tasks is None:
        tasks = int(os.environ.get("SCORECARD_PARSE_TASKS") or PARSE_TASKS)
    numbered = [{**claim, "seq": seq} for seq, claim in enumerate(claims)]
    count = max(1, min(tasks, len(numbered)))
    size = -(-len(numbered) // count) if numbered else 0
    return [numbered[i : i + size] for i in range(0, len(numbered), size)] if numbered else []


def stage_dir_for(claim: dict[str, Any], settings: Any) -> Any:
    """``<SCORECARD_HOME>/staged/<claim folder>/``: a claim folder (``<claim-id>@<run>``) is unique;
    a file loaded in place (a manual path) gets the hash of its path."""
    from pathlib import Path

    path = Path(claim["path"])
    processing = settings.processing.resolve()
    if path.resolve().is_relative_to(processing) and path.parent.resolve() != processing:
        name = path.parent.name
    else:
        name = "path-" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return settings.home / STAGED_DIRNAME / name


def parse_claim(claim: dict[str, Any]) -> dict[str, Any]:
    """Parse and validate one claimed file into its stage folder (``ingest.loader.stage_file``);
    never opens the warehouse, so it runs on any worker, in parallel with anything.

    A claim whose file is no longer there was handled by another run (e.g. re-announced after a
    crash): it comes back with ``gone`` set and the commit skips it. A file without a department
    folder (``processing/_unsorted/<claim>/``) is read with its claim folder as the root, so the
    department comes from the file's content rather than from the folder name.
    """
    from pathlib import Path

    from ingest.loader import stage_file
    from scorecard.config import get_settings
    from scorecard.triggers import UNSORTED

    settings = get_settings()
    path = Path(claim["path"])
    if not path.exists():
        log.warning("Claimed file %s is gone (handled by another run); skipping", path)
        return {**claim, "gone": True}
    department = claim.get("department")
    root = path.parent if department is None and path.parent.parent.name == UNSORTED else None
    stage_dir = stage_dir_for(claim, settings)
    result = stage_file(path, stage_dir, department=department, settings=settings, root=root)
    return {
        **claim,
        "stage_dir": str(stage_dir),
        "department": result.department_code or department,
        "status": str(result.status),
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
    }


def parse_claims(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parse a batch of claims one after the other (the loader's imports and reference data paid
    once). A parse that raises (an infrastructure error: bad content is refused, not raised) fails
    the task after the others were staged; the retry stages them all again (idempotent)."""
    staged: list[dict[str, Any]] = []
    errors: list[str] = []
    for claim in claims:
        try:
            staged.append(parse_claim(claim))
        except Exception as exc:
            log.exception("Parsing %s failed", claim.get("path"))
            errors.append(f"{claim.get('original_name')}: {type(exc).__name__}: {exc}")
            continue
        log.info("Staged %s: %s", claim.get("original_name"), staged[-1].get("status"))
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(claims)} files failed to parse: {errors[:5]}")
    return staged


def commit_claim(item: dict[str, Any], *, connection: Any = None) -> dict[str, Any] | None:
    """Commit one staged file into the warehouse (``ingest.loader.commit_staged``): one
    transaction with its ledger row, then the file moves to ``archive/`` or ``rejected/``.
    ``None`` if the file has moved on (committed by an earlier try, or handled by another run)."""
    import shutil
    from pathlib import Path

    from ingest.loader import STAGE_FACTS, commit_staged
    from scorecard.config import get_settings

    settings = get_settings()
    stage_dir = Path(item["stage_dir"]) if item.get("stage_dir") else None
    path = Path(item["path"])
    if item.get("gone") or stage_dir is None:
        return None
    if not (stage_dir / STAGE_FACTS).exists():
        # commit_staged removes the stage folder last: an earlier try committed this file (a
        # manual path loaded in place is copied, not moved, so its file is still there)
        log.warning("%s was committed by an earlier try; skipping", path)
        return None
    if not path.exists():  # moved by an earlier try that stopped before removing the stage
        shutil.rmtree(stage_dir, ignore_errors=True)
        log.warning("Claimed file %s is gone (already committed or handled by another run)", path)
        return None
    result = commit_staged(stage_dir, settings=settings, _connection=connection)
    _remove_empty_claim_dir(path, settings.processing)
    return {
        "original_name": item.get("original_name") or path.name,
        "department": result.department_code or item.get("department"),
        "status": str(result.status),
        "file_hash": result.sha256,
        "file_id": result.file_id,
        "periods": sorted(str(p) for p in (result.periods or [])),
        "rows_loaded": result.rows_loaded,
        "rows_rejected": result.rows_rejected,
        "stored_path": None if result.stored_path is None else str(result.stored_path),
        "reason_zh": (result.issues[0].reason_zh if result.issues else result.message) or None,
        "reason_en": (result.issues[0].reason_en if result.issues else result.message) or None,
    }


def commit_claims(staged: Any, outlet_events: Any) -> list[dict[str, Any]]:
    """Commit every staged file of the run in claim order, over one warehouse connection (each file
    its own transaction), and add one asset event per file on its department's asset.

    ``staged`` is the parse tasks' output: one list per mapped task. A commit that raises fails the
    task after the other files were committed; the retry finds those files gone and commits only
    the rest.
    """
    from ingest.loader import warehouse_connection
    from scorecard.config import get_settings

    items = sorted((item for batch in staged or [] for item in batch), key=lambda item: item.get("seq", 0))
    loaded: list[dict[str, Any]] = []
    errors: list[str] = []
    if not items:
        return loaded
    with warehouse_connection(get_settings()) as con:
        for item in items:
            try:
                summary = commit_claim(item, connection=con)
            except Exception as exc:
                log.exception("Committing %s failed", item.get("path"))
                errors.append(f"{item.get('original_name')}: {type(exc).__name__}: {exc}")
                continue
            if summary is None:
                continue
            loaded.append(summary)
            outlet_events[SUBMISSIONS_ALIAS].add(
                submissions_asset(summary["department"]),
                extra={k: summary[k] for k in ("file_hash", "periods", "file_id", "status", "original_name")},
            )
            log.info("Loaded %s: %s", summary["original_name"], summary)
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(items)} files failed to commit: {errors[:5]}")
    return loaded


def _remove_empty_claim_dir(path: Any, processing: Any) -> None:
    """After the loader moved the file away, drop its now empty ``processing/<dept>/<claim>/``."""
    import contextlib
    from pathlib import Path

    claim_dir = Path(path).parent
    processing = Path(processing).resolve()
    if claim_dir.resolve().parent.parent == processing and not Path(path).exists():
        # processing/<department>/<claim-id>@<run>/ (or an unadopted <claim-id>/)
        with contextlib.suppress(OSError):
            claim_dir.rmdir()


def summarise(obj: Any, *, limit: int = 40) -> dict[str, Any]:
    """A small JSON-able summary of a result object (scalars and short lists only) for XCom."""
    import dataclasses

    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        data = obj.to_dict()
    elif dataclasses.is_dataclass(obj):
        data = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    elif isinstance(obj, dict):
        data = obj
    else:
        data = {"value": str(obj)}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float | bool) or value is None:
            out[key] = value[:2000] if isinstance(value, str) else value
        elif (
            isinstance(value, list | tuple)
            and len(value) <= limit
            and all(isinstance(v, str | int | float | bool) or v is None for v in value)
        ):
            out[key] = list(value)
        elif (
            isinstance(value, dict)
            and len(value) <= limit
            and all(isinstance(v, str | int | float | bool) or v is None for v in value.values())
        ):
            out[key] = {str(k): v for k, v in value.items()}
        elif hasattr(value, "__fspath__"):
            out[key] = str(value)
    for name in ("ok",):
        if hasattr(obj, name) and name not in out:
            out[name] = bool(getattr(obj, name))
    return out


def triggering_files(context: Any) -> list[dict[str, Any]]:
    """The loads that started a build run (from the submissions_* asset events), for lineage."""
    events = context.get("triggering_asset_events") or {}
    files: list[dict[str, Any]] = []
    for asset in list(events):
        for event in events[asset]:
            extra = dict(getattr(event, "extra", None) or {})
            files.append({"asset": getattr(asset, "name", str(asset)), **extra})
    return files


def run_dbt_build(context: Any) -> dict[str, Any]:
    """``dbt build`` in a subprocess or the warm dbt worker (``warehouse.dbt.dbt_build``); raises
    if dbt failed.

    The daily deadline tick asks for a full build; new submissions for an ``auto`` one
    (incremental unless the project or the settings changed since the last full build)."""
    from warehouse.dbt import dbt_build

    files = triggering_files(context)
    mode = "full" if any(f.get("asset") == DEADLINE_TICK.name for f in files) else "auto"
    result = dbt_build(mode=mode)
    tail = "\n".join((result.stdout + "\n" + result.stderr).strip().splitlines()[-40:])
    log.info("dbt build (%s, %s) rc=%s\n%s", result.mode, result.via, result.returncode, tail)
    if not result.ok:
        raise RuntimeError(f"dbt build ({result.mode}) failed (rc={result.returncode}):\n{tail}")
    return {"returncode": result.returncode, "mode": result.mode, "via": result.via, "files": files[:100]}


def run_quality_gate() -> dict[str, Any]:
    """``quality.gate.run_gate``; returns where the full result is (a path, not the data)."""
    from quality.gate import run_gate

    gate = run_gate()
    failures = [f"{c.dataset}: {c.check} -> {c.outcome}" for c in gate.failures][:50]
    summary = {
        "ok": bool(gate.ok),
        "run_id": gate.run_id,
        "results_path": gate.results_path,
        "counts": gate.counts(),
        "failures": failures,
    }
    log.info("Quality gate: %s", summary)
    return summary


def publish_after_gate(gate_summary: dict[str, Any]) -> dict[str, Any]:
    """``warehouse.publish.publish`` with the gate result the previous task wrote to disk."""
    from quality.gate import GateResult
    from warehouse.publish import publish

    results_path = gate_summary.get("results_path")
    if not results_path:
        raise RuntimeError("the quality gate did not record its results; refusing to publish")
    with open(results_path, encoding="utf-8") as fh:
        gate = GateResult.from_dict(json.load(fh))
    if gate.run_id != gate_summary.get("run_id"):
        raise RuntimeError(
            f"gate results at {results_path} are from run {gate.run_id}, not {gate_summary['run_id']}"
        )
    result = publish(gate=gate)
    if not result.published:
        raise RuntimeError(f"publication failed: {result.reason}")
    summary = {
        "run_id": result.run_id,
        "reason": result.reason,
        "manifest_path": str(result.manifest_path),
        "snapshot": str(result.snapshot),
        "marts": list(result.marts),
    }
    log.info("Published: %s", summary)
    return summary


def deliver() -> dict[str, Any]:
    """``alerts.engine.deliver_alerts``: evaluate the published snapshot and the gate,
    send the state changes (and any receipt or reminder still pending)."""
    from alerts.engine import deliver_alerts

    report = deliver_alerts()
    summary = {
        "changes": report.changes,
        "held": report.held,
        "sent": report.sent,
        "channels": {name: vars(counts) for name, counts in report.channels.items()},
        "errors": report.errors[:20],
    }
    log.info("Alerts delivered: %s", summary)
    for channel, owner, parts, digest in report.digests:
        log.info("Digest to %s on %s (%s messages):\n%s", owner, channel, parts, digest.markdown)
    if not report.ok:  # undelivered changes stay in the outbox; the retry (with backoff) sends them
        raise RuntimeError(f"{len(report.errors)} alert deliveries failed: {report.errors[:5]}")
    return summary


def send_receipts(loaded: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Every file of the ingest run gets a receipt through the alert channels (its department, or
    the data team for an unknown folder). Raises :class:`AirflowFailException` (no retry) after
    sending when a file was refused whole, so the run shows the refusal instead of green."""
    from airflow.sdk.exceptions import AirflowFailException

    from alerts.engine import deliver_alerts
    from alerts.receipts import receipts, refused

    loads = [item for item in loaded or [] if item]
    report = deliver_alerts(observations={}, receipts=receipts(loads))
    summary = {"files": len(loads), "sent": report.sent, "errors": report.errors[:20]}
    log.info("Receipts: %s", summary)
    refusals = refused(loads)
    if refusals:
        raise AirflowFailException(
            f"{len(refusals)} of {len(loads)} files were refused (receipts sent) 文件被拒收: {refusals[:10]}"
        )
    if not report.ok:
        raise RuntimeError(f"{len(report.errors)} receipt deliveries failed: {report.errors[:5]}")
    return summary


def deadline_check() -> dict[str, Any]:
    """The daily deadline run: skip until something was ever loaded, else ask for a rebuild."""
    from airflow.sdk.exceptions import AirflowSkipException

    from scorecard.config import get_settings

    settings = get_settings()
    if not settings.warehouse_path.exists():
        raise AirflowSkipException("no warehouse yet (nothing loaded): no deadlines to judge")
    return {"as_of": settings.today().isoformat()}
