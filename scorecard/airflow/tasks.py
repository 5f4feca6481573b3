"""What the Airflow tasks call: each task of a DAG file calls one function here. Imports of the
stages (ingest, warehouse, quality, alerts) happen inside the functions, at run time, never while a
DAG is parsed. Airflow 任务调用的函数（运行时才导入各阶段）。
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from scorecard.airflow.assets import (
    DEADLINE_TICK,
    INBOX,
    INLINE_PARSE_MAX_BYTES,
    INLINE_PARSE_MAX_FILES,
    PARSE_TASKS,
    STAGED_DIRNAME,
    SUBMISSIONS_ALIAS,
    submissions_asset,
)

log = logging.getLogger(__name__)


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

    from scorecard.airflow.inbox import InboxScanner, adopt, claim_payload
    from scorecard.core.settings import get_settings

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
    from scorecard.airflow.inbox import InboxScanner
    from scorecard.core.settings import get_settings

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


def plan_parse(claims: list[dict[str, Any]], tasks: int | None = None) -> dict[str, list[Any]]:
    """What ``claimed_files`` hands on: ``{"batches": [...], "staged": [...]}``.

    A few small files (at most ``INLINE_PARSE_MAX_FILES`` of at most ``INLINE_PARSE_MAX_BYTES``
    together, a department's correction) are parsed here, in the claiming task: ``staged`` holds
    them and no parse task is mapped. Anything larger is split into ``batches`` for the mapped
    parse tasks (:func:`parse_batches`). No claims at all skips the run's tasks: another run
    adopted the files."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not claims:
        raise AirflowSkipException("nothing to load: every claim was adopted by another run")
    small = sum(int(claim.get("size") or 0) for claim in claims) <= INLINE_PARSE_MAX_BYTES
    if len(claims) <= INLINE_PARSE_MAX_FILES and small:
        (numbered,) = parse_batches(claims, tasks=1)
        return {"batches": [], "staged": parse_claims(numbered)}
    return {"batches": parse_batches(claims, tasks), "staged": []}


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
    from scorecard.airflow.inbox import UNSORTED
    from scorecard.core.settings import get_settings

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
    from scorecard.core.settings import get_settings

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
        "original_name": result.provenance.sent_name or item.get("original_name") or path.name,
        "department": result.department_code or item.get("department"),
        # file drop or API, and the department whose token sent it (the ledger's columns)
        "channel": result.provenance.channel,
        "authenticated_department": result.provenance.authenticated_department,
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

    ``staged`` is the parse tasks' output: one list per mapped task (and the files ``claimed_files``
    parsed itself, :func:`plan_parse`, as one more). A commit that raises fails the task after the
    other files were committed; the retry finds those files gone and commits only the rest.
    """
    from ingest.loader import warehouse_connection
    from scorecard.core.settings import get_settings

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
                extra={
                    k: summary[k]
                    for k in (
                        *("file_hash", "periods", "file_id", "status", "original_name"),
                        *("channel", "authenticated_department"),
                    )
                },
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


def publish_after_gate(gate_summary: dict[str, Any], outlet_events: Any = None) -> dict[str, Any]:
    """``warehouse.publish.publish`` with the gate result the previous task wrote to disk; the
    ``scorecards`` asset event (when ``outlet_events`` is given) carries what a reader needs to
    find and trust this release: the run id, the snapshot's path and the manifest's sha256.

    It renders nothing: this task holds the warehouse writer's pool slot, and the report and
    workbook are read from the release alone, so :func:`render_published` renders them in a task
    of its own, outside the pool, while the next writer may already run."""
    import hashlib
    from pathlib import Path

    from quality.gate import GateResult
    from scorecard.airflow.assets import SCORECARDS
    from warehouse.publish import MANIFEST_NAME, SNAPSHOT_NAME, publish

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
    # The release's own folder (publish/releases/<run id>/), not the stable links that the next
    # publication moves: the event keeps naming the files it announced.
    assert result.parquet_dir is not None
    release = Path(result.parquet_dir).parent
    manifest = release / MANIFEST_NAME
    summary = {
        "run_id": result.run_id,
        "gate_run_id": gate.run_id,
        "reason": result.reason,
        "snapshot_path": str(release / SNAPSHOT_NAME),
        "manifest_path": str(manifest),
        "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "marts": list(result.marts),
        "release": str(release),
    }
    log.info("Published: %s", summary)
    if outlet_events is not None:
        outlet_events[SCORECARDS].extra = {
            key: summary[key]
            for key in ("run_id", "gate_run_id", "snapshot_path", "manifest_path", "manifest_sha256")
        }
    return summary


def render_published(published: dict[str, Any]) -> dict[str, Any]:
    """``reports.release.render_release`` of the release ``publish_after_gate`` published: the
    report and workbook from that release's own snapshot, linked in publish/ while it is still the
    current one. Reads the release only (never the warehouse), so it runs outside the writer pool."""
    from pathlib import Path

    from reports.release import RENDERED_NAMES, render_release

    release = render_release(release=Path(published["release"]))
    summary = {"run_id": published["run_id"], "release": str(release), "rendered": list(RENDERED_NAMES)}
    log.info("Rendered: %s", summary)
    return summary


def check_and_publish(outlet_events: Any = None) -> dict[str, Any]:
    """The quality gate (:func:`run_quality_gate`), then, if it passed, the publication
    (:func:`publish_after_gate`), in one task: it holds the warehouse writer's pool slot from the
    check to the snapshot, so no build can change the marts in between, and it is one task start
    instead of three on the way from a file to the snapshot.

    The outcome is announced through the ``gate_outcome`` alias (when ``outlet_events`` is given):
    on ``scorecards`` (the release: run id, snapshot, manifest and its sha256) when published, on
    ``quality_failures`` (the failed checks) when the gate failed and nothing was published."""
    from scorecard.airflow.assets import GATE_OUTCOME, QUALITY_FAILURES, SCORECARDS

    gate = run_quality_gate()
    if not gate["ok"]:
        if outlet_events is not None:
            outlet_events[GATE_OUTCOME].add(
                QUALITY_FAILURES,
                extra={
                    "gate_run_id": gate["run_id"],
                    "results_path": gate["results_path"],
                    "failures": gate["failures"][:20],
                },
            )
        return {"ok": False, "gate": gate, "published": None}
    published = publish_after_gate(gate)
    if outlet_events is not None:
        outlet_events[GATE_OUTCOME].add(
            SCORECARDS,
            extra={
                key: published[key]
                for key in ("run_id", "gate_run_id", "snapshot_path", "manifest_path", "manifest_sha256")
            },
        )
    return {"ok": True, "gate": gate, "published": published}


def fail_unless_published(outcome: dict[str, Any]) -> None:
    """The check-and-publish run's last word: skipped when it published, failed (no retry) when
    the gate failed, so the run shows that nothing was published."""
    from airflow.sdk.exceptions import AirflowSkipException

    if outcome.get("ok"):
        raise AirflowSkipException("the gate passed and the snapshot was published")
    failures = (outcome.get("gate") or {}).get("failures") or []
    raise AirflowFailException(f"quality gate failed, nothing published: {failures[:5]}")


def render_outcome(outcome: dict[str, Any]) -> dict[str, Any]:
    """:func:`render_published` of what :func:`check_and_publish` published; skipped when the gate
    failed and nothing was published."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not outcome.get("ok") or not outcome.get("published"):
        raise AirflowSkipException("nothing was published: nothing to render")
    return render_published(outcome["published"])


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

    from scorecard.core.settings import get_settings

    settings = get_settings()
    if not settings.warehouse_path.exists():
        raise AirflowSkipException("no warehouse yet (nothing loaded): no deadlines to judge")
    return {"as_of": settings.today().isoformat()}
