"""Stage: the loader's two halves apart (the distributed profile): ``stage_file`` parses into a
stage folder of Parquet files without opening the warehouse, ``commit_staged`` commits one later.
Part of the loader (``ingest.loader`` is the façade).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ingest.commit import REJECTED, LoadResult, StagedRows, commit_prepared, prepare_file
from ingest.errors import Issue
from ingest.provenance import Provenance
from scorecard.core.settings import Settings, get_settings

# --- staging: parse here, commit elsewhere ---------------------------------------------------------

STAGE_FORMAT = 1
STAGE_FACTS = "staged.json"
_STAGE_TABLES = {
    "submissions": "rows.parquet",
    "status_reports": "status_rows.parquet",
    "quarantine": "quarantine.parquet",
}


def stage_file(
    path: str | os.PathLike[str],
    stage_dir: str | os.PathLike[str],
    *,
    department: str | None = None,
    settings: Settings | None = None,
    confine: bool = False,
    root: Path | None = None,
) -> LoadResult:
    """Read and validate one file and write what the commit needs into ``stage_dir``, without
    opening the warehouse: ``rows.parquet`` and ``status_rows.parquet`` (valid rows),
    ``quarantine.parquet`` (refused rows, personal identifiers masked) and ``staged.json`` (the
    ledger facts). The folder appears complete or not at all (written aside, then renamed), and
    staging the same file again replaces it. The file itself is not moved.

    Returns the result so far: no file id yet, and the status the commit will record unless the
    bytes turn out to duplicate a file already loaded.
    """
    import pyarrow.parquet as pq

    settings = settings or get_settings()
    path = Path(path)
    stage_dir = Path(stage_dir)
    result, staged = prepare_file(path, department=department, settings=settings, confine=confine, root=root)
    facts: dict[str, Any] = {
        "format": STAGE_FORMAT,
        "path": str(path),
        "file_name": result.file_name,
        "department_code": result.department_code,
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "file_format": result.file_format,
        "layout": result.layout,
        "message": result.message,
        "lines_skipped": result.lines_skipped,
        "warnings": [
            {"row_ref": i.row_ref, "field": i.field, "reason_code": i.reason_code, "params": i.params}
            for i in result.warnings
        ],
        "identity": list(result.identity) if result.identity else None,
        "provenance": result.provenance.facts(),
        "issues": [
            {
                "file_name": i.file_name,
                "row_ref": i.row_ref,
                "field": i.field,
                "reason_code": i.reason_code,
                "params": i.params,
            }
            for i in result.issues
        ],
        "staged": None,
    }
    if staged is not None:
        result.status = staged.status
        result.rows_input, result.rows_loaded = staged.rows_input, staged.rows_loaded
        result.rows_rejected, result.periods = staged.rows_rejected, list(staged.periods)
        facts["staged"] = {
            "status": staged.status,
            "refusal_code": staged.refusal_code,
            "rows_input": staged.rows_input,
            "rows_loaded": staged.rows_loaded,
            "rows_rejected": staged.rows_rejected,
            "periods": staged.periods,
        }
    stage_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = stage_dir.with_name(f".{stage_dir.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    if staged is not None:
        for table_name, file_name in _STAGE_TABLES.items():
            pq.write_table(staged.tables[table_name], partial / file_name)
    (partial / STAGE_FACTS).write_text(json.dumps(facts, ensure_ascii=False, default=str), encoding="utf-8")
    shutil.rmtree(stage_dir, ignore_errors=True)
    os.replace(partial, stage_dir)
    return result


def commit_staged(
    stage_dir: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    _connection: Any | None = None,
) -> LoadResult:
    """Write a stage folder (see :func:`stage_file`) into the warehouse in one transaction, as
    ``load_file`` would have, move the file to ``archive/`` or ``rejected/`` and remove the stage
    folder. A crash before the commit leaves everything as it was; a crash after it leaves the file
    and the stage folder, and the retry records the same bytes as a duplicate and moves the file."""
    import pyarrow.parquet as pq

    settings = settings or get_settings()
    settings.ensure_dirs()
    stage_dir = Path(stage_dir)
    facts = json.loads((stage_dir / STAGE_FACTS).read_text(encoding="utf-8"))
    if facts.get("format") != STAGE_FORMAT:
        raise ValueError(f"{stage_dir} has stage format {facts.get('format')!r}, not {STAGE_FORMAT}")
    issues = [
        Issue(i["file_name"], i["row_ref"], i["field"], i["reason_code"], dict(i.get("params") or {}))
        for i in facts["issues"]
    ]
    result = LoadResult(
        path=Path(facts["path"]),
        file_name=facts["file_name"],
        status=REJECTED,
        department_code=facts["department_code"],
        sha256=facts["sha256"],
        size_bytes=facts["size_bytes"],
        file_format=facts["file_format"],
        layout=facts["layout"],
        issues=issues,
        message=facts["message"],
        identity=tuple(facts["identity"]) if facts.get("identity") else None,
        provenance=Provenance.from_facts(facts.get("provenance")),
        lines_skipped=facts.get("lines_skipped", 0),
        warnings=[
            Issue(facts["file_name"], w["row_ref"], w["field"], w["reason_code"], dict(w.get("params") or {}))
            for w in facts.get("warnings", [])
        ],
    )
    info = facts["staged"]
    if info is not None:  # None: a path refused unread; nothing is recorded or moved
        staged = StagedRows(
            status=info["status"],
            refusal_code=info["refusal_code"],
            rows_input=info["rows_input"],
            rows_loaded=info["rows_loaded"],
            rows_rejected=info["rows_rejected"],
            periods=list(info["periods"]),
            tables={name: pq.read_table(stage_dir / file_name) for name, file_name in _STAGE_TABLES.items()},
        )
        commit_prepared(settings, result, staged, _connection)
    shutil.rmtree(stage_dir, ignore_errors=True)
    return result
