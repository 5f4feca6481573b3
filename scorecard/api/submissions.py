"""What the API does with an accepted body, and what it answers about it later.

Writing (``accept``): the submission's record (``ingest.provenance``), then the body into
``inbox/<department>/<submission id>.<ext>`` by write-aside-and-rename (``.<id>.part``, a hidden
name the inbox trigger and the loader skip, synced, then renamed): the trigger claims it like any
dropped file, so the same DAGs load it. With an ``Idempotency-Key`` the check for an earlier
answer and the write happen under one lock per key, so two identical requests store one file.

Reading (``status``): the ledger row of the submission (``raw.file_ledger.submission_id``) from
the warehouse, opened read-only, its refused rows' reasons (zh/en) from ``raw.quarantine``, and
the first publication whose files include it (``publish/publications.jsonl``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.provenance import api_home, read_record, write_record
from scorecard.core.durable import fsync_dir, write_atomic
from scorecard.core.locks import exclusive_lock
from scorecard.core.settings import Settings

RECEIVED = "received"
MAX_REASONS = 100


class LedgerBusy(RuntimeError):
    """The warehouse stayed locked by a writer (a load or a build) for the whole wait."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer the API may have to give again (an idempotent replay)."""

    status_code: int
    body: dict[str, Any]


class IdempotencyConflict(ValueError):
    """The key was used before with a different body."""


def new_submission_id() -> str:
    return f"sub_{secrets.token_hex(16)}"


def _key_path(home: Path, department: str, key: str) -> Path:
    digest = hashlib.sha256(f"{department}\0{key}".encode()).hexdigest()
    return api_home(home) / "idempotency" / f"{digest}.json"


def accept(
    settings: Settings,
    *,
    department: str,
    token_id: str,
    sent_name: str,
    extension: str,
    data: bytes,
    idempotency_key: str | None,
) -> tuple[Answer, bool]:
    """Store one submission (or find the answer to its first sending): (answer, replayed)."""
    sha256 = hashlib.sha256(data).hexdigest()
    fingerprint = hashlib.sha256(f"{sent_name}\0{sha256}".encode()).hexdigest()
    if idempotency_key is None:
        return _store(settings, department, token_id, sent_name, extension, data, sha256), False
    key_path = _key_path(settings.home, department, idempotency_key)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(key_path.with_suffix(".lock")):
        if key_path.exists():
            earlier = json.loads(key_path.read_text(encoding="utf-8"))
            if earlier["fingerprint"] != fingerprint:
                raise IdempotencyConflict(idempotency_key)
            return Answer(earlier["status_code"], earlier["body"]), True
        answer = _store(settings, department, token_id, sent_name, extension, data, sha256)
        write_atomic(
            key_path,
            json.dumps(
                {"fingerprint": fingerprint, "status_code": answer.status_code, "body": answer.body},
                ensure_ascii=False,
            ),
        )
    return answer, False


def _store(
    settings: Settings,
    department: str,
    token_id: str,
    sent_name: str,
    extension: str,
    data: bytes,
    sha256: str,
) -> Answer:
    submission_id = new_submission_id()
    received_at = datetime.now(UTC).isoformat(timespec="seconds")
    record = {
        "submission_id": submission_id,
        "department": department,
        "token_id": token_id,
        "sent_name": sent_name,
        "sha256": sha256,
        "size_bytes": len(data),
        "received_at": received_at,
    }
    # The record first: once the file is in the inbox a loader may take it at once, and it must
    # find the record to know the file came by the API.
    write_record(settings.home, record)
    folder = settings.inbox / department
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{submission_id}.part"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(partial, folder / f"{submission_id}{extension}")
    fsync_dir(folder)
    return Answer(
        202,
        {
            "submission_id": submission_id,
            "status": RECEIVED,
            "department": department,
            "file_name": sent_name,
            "sha256": sha256,
            "size_bytes": len(data),
            "received_at": received_at,
            "status_url": f"/v1/submissions/{submission_id}",
        },
    )


def _ledger_rows(settings: Settings, submission_id: str, wait_seconds: float) -> dict[str, Any] | None:
    """The submission's ledger row with its reasons, or None when it is not loaded yet."""
    import duckdb

    if not settings.warehouse_path.exists():
        return None
    deadline = time.monotonic() + wait_seconds
    while True:
        con = duckdb.connect(":memory:")
        try:
            path = str(settings.warehouse_path).replace("'", "''")
            con.execute(f"ATTACH '{path}' AS wh (READ_ONLY)")
            has_column = con.execute(
                "select count(*) from duckdb_columns() where database_name = 'wh' and schema_name = 'raw'"
                " and table_name = 'file_ledger' and column_name = 'submission_id'"
            ).fetchone()
            if not has_column or not has_column[0]:
                return None
            cursor = con.execute(
                "select file_id, file_name, status, rows_input, rows_loaded, rows_rejected, message,"
                " received_at, sha256, department_code, channel, authenticated_department"
                " from wh.raw.file_ledger where submission_id = ? order by file_id limit 1",
                [submission_id],
            )
            names = [d[0] for d in cursor.description]
            found = cursor.fetchone()
            if found is None:
                return None
            row = dict(zip(names, found, strict=True))
            row["reasons_total"] = con.execute(
                "select count(*) from wh.raw.quarantine where file_id = ?", [row["file_id"]]
            ).fetchone()[0]
            cursor = con.execute(
                "select row_ref, field, reason_code, reason_zh, reason_en from wh.raw.quarantine"
                " where file_id = ? order by row_ref limit ?",
                [row["file_id"], MAX_REASONS],
            )
            names = [d[0] for d in cursor.description]
            row["reasons"] = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
            published_id = row["file_id"]
            if row["status"] == "duplicate":  # its rows are those of the earlier, identical file
                earlier = con.execute(
                    "select min(file_id) from wh.raw.file_ledger where sha256 = ? and file_id < ?"
                    " and department_code is not distinct from ? and status <> 'duplicate'",
                    [row["sha256"], row["file_id"], row["department_code"]],
                ).fetchone()
                published_id = earlier[0] if earlier and earlier[0] is not None else published_id
            row["published_file_id"] = published_id
            return row
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                if "lock" in str(exc).lower():
                    raise LedgerBusy(str(exc)) from exc
                raise
        finally:
            con.close()
        time.sleep(0.5)


def status(settings: Settings, submission_id: str, *, wait_seconds: float = 10.0) -> dict[str, Any] | None:
    """The status answer of a stored submission, or None when there is no such submission."""
    from warehouse.publish import first_publication

    record = read_record(settings.home, submission_id)
    if record is None:
        return None
    answer: dict[str, Any] = {
        "submission_id": submission_id,
        "department": record["department"],
        "file_name": record["sent_name"],
        "sha256": record["sha256"],
        "size_bytes": record["size_bytes"],
        "received_at": record["received_at"],
        "status": RECEIVED,
        "file_id": None,
        "rows_input": None,
        "rows_loaded": None,
        "rows_rejected": None,
        "message": None,
        "reasons": [],
        "reasons_total": 0,
        "publication": None,
    }
    row = _ledger_rows(settings, submission_id, wait_seconds)
    if row is None:
        return answer
    answer.update(
        status=row["status"],
        file_id=row["file_id"],
        rows_input=row["rows_input"],
        rows_loaded=row["rows_loaded"],
        rows_rejected=row["rows_rejected"],
        message=row["message"],
        reasons=row["reasons"],
        reasons_total=row["reasons_total"],
        loaded_at=str(row["received_at"]),
        channel=row["channel"],
        authenticated_department=row["authenticated_department"],
        publication=first_publication(settings.publish, int(row["published_file_id"])),
    )
    return answer


def record_of(settings: Settings, submission_id: str) -> dict[str, Any] | None:
    return read_record(settings.home, submission_id)
