"""Commit: one file, one DuckDB transaction (ledger row, valid rows, quarantine, superseded
files), then the move of the file to ``archive/`` or ``rejected/``; also the read that prepares it
(opened once, hashed, parsed). Part of the loader (``ingest.loader`` is the façade; its docstring
states the guarantees).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import pii
from ingest.errors import Issue
from ingest.parse import ParsedFile, parse_file, reject_all, reject_personal_data
from ingest.paths import infer_department, is_within, safe_file_name, unsafe_path
from ingest.provenance import DROPPED, Provenance, channel_of
from ingest.readers import (
    FORMAT_BY_EXTENSION,
)
from ingest.reference import load_reference
from ingest.rules import Rejection, StatusRow, SubmissionRow
from scorecard.core.raw_layer import RAW_TABLES
from scorecard.core.settings import Settings

LOADED = "loaded"
LOADED_WITH_REJECTS = "loaded_with_rejects"
REJECTED = "rejected"
DUPLICATE = "duplicate"
SUPERSEDED = "superseded"
FAILED = "failed"  # not a ledger status: the load raised and nothing was recorded


@dataclass
class LoadResult:
    """What happened to one file."""

    path: Path
    file_name: str
    status: str
    file_id: int | None = None
    department_code: str | None = None
    sha256: str = ""
    size_bytes: int = 0
    file_format: str | None = None
    layout: str | None = None
    rows_input: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    # Lines of the form that are not records (total rows, the footer): reported, never stored.
    lines_skipped: int = 0
    periods: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    # Warnings on a file that loads (skipped lines, totals that disagree, a footer dropped).
    warnings: list[Issue] = field(default_factory=list)
    stored_path: Path | None = None
    message: str | None = None
    duplicate_of: int | None = None
    # How the file came (file drop or the API) and, for the API, the department of the token.
    provenance: Provenance = DROPPED
    # What was read (not stored in the warehouse): the file's identity and, in one process, its bytes.
    identity: tuple[int, int] | None = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """True when nothing was refused (a duplicate is fine: it adds nothing)."""
        return self.status in {LOADED, DUPLICATE}


# --- the transaction -----------------------------------------------------------------------------


# The validated rows as Arrow tables, without the file id and the load time: only the commit can
# assign those (``_stamped``), so the same tables can wait in a stage folder as Parquet.


def _arrow_submissions(rows: list[SubmissionRow]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "row_ref": pa.array([row.row_ref for row in rows], pa.string()),
            "department_code": pa.array([row.department_code for row in rows], pa.string()),
            "region_code": pa.array([row.region_code for row in rows], pa.string()),
            "measure_code": pa.array([row.measure_code for row in rows], pa.string()),
            "period": pa.array([row.period for row in rows], pa.string()),
            "value": pa.array([row.value for row in rows], pa.float64()),
            "numerator": pa.array([row.numerator for row in rows], pa.float64()),
            "denominator": pa.array([row.denominator for row in rows], pa.float64()),
            "unit_submitted": pa.array([row.unit_submitted for row in rows], pa.string()),
            "value_text": pa.array([row.value_text for row in rows], pa.string()),
            "note": pa.array([row.note for row in rows], pa.string()),
        }
    )


def _arrow_status(rows: list[StatusRow]) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "row_ref": pa.array([row.row_ref for row in rows], pa.string()),
            "department_code": pa.array([row.department_code for row in rows], pa.string()),
            "item_code": pa.array([row.item_code for row in rows], pa.string()),
            "region_code": pa.array([row.region_code for row in rows], pa.string()),
            "period": pa.array([row.period for row in rows], pa.string()),
            "status": pa.array([row.status for row in rows], pa.string()),
            "status_date": pa.array([row.status_date for row in rows], pa.date32()),
            "evidence": pa.array([row.evidence for row in rows], pa.string()),
            "note": pa.array([row.note for row in rows], pa.string()),
        }
    )


def _clean_record(raw_record: str | None) -> str | None:
    """A quarantined record (JSON text) with every key and value cleaned (``pii.clean``). JSON
    escapes (a tab as ``\\t``) would hide an identifier's separators from a scan of the text, so a
    record with any escape is cleaned value by value."""
    if raw_record is None or "\\" not in raw_record:
        return pii.clean(raw_record)
    try:
        record = json.loads(raw_record)
    except ValueError:
        return pii.clean(raw_record)

    def cleaned(item: Any) -> Any:
        if isinstance(item, str):
            return pii.clean(item)
        if isinstance(item, dict):
            return {pii.clean(str(key)): cleaned(value) for key, value in item.items()}
        if isinstance(item, list):
            return [cleaned(value) for value in item]
        return item

    return json.dumps(cleaned(record), ensure_ascii=False)


def _arrow_quarantine(rejections: list[Rejection]) -> Any:
    import pyarrow as pa

    issues = [rejection.issue for rejection in rejections]
    return pa.table(
        {
            "row_ref": pa.array([pii.clean(issue.row_ref or "") for issue in issues], pa.string()),
            "field": pa.array([pii.clean(issue.field) for issue in issues], pa.string()),
            "reason_code": pa.array([issue.reason_code for issue in issues], pa.string()),
            "reason_zh": pa.array([issue.reason_zh for issue in issues], pa.string()),
            "reason_en": pa.array([issue.reason_en for issue in issues], pa.string()),
            # Personal identifiers never reach the warehouse, whatever the file was refused for.
            "raw_record": pa.array([_clean_record(r.raw_record) for r in rejections], pa.string()),
        }
    )


# The timestamp column each raw table gets at commit time.
_TIMESTAMP_COLUMN = {
    "submissions": "loaded_at",
    "status_reports": "loaded_at",
    "quarantine": "quarantined_at",
}


def _stamped(table_name: str, arrow_table: Any, file_id: int, at: Any) -> Any:
    """The staged rows with the file id (first) and the commit time (last) the warehouse needs."""
    import pyarrow as pa

    # Each a take from one value: no Python list per row, and not pa.repeat, which builds anything
    # but a plain number value by value (~1 s per million rows for a timestamp).
    zeros = pa.repeat(pa.scalar(0, pa.int32()), arrow_table.num_rows)
    stamped = arrow_table.add_column(0, "file_id", pa.array([file_id], pa.int64()).take(zeros))
    stamp = pa.array([at], pa.timestamp("us")).take(zeros)
    return stamped.append_column(_TIMESTAMP_COLUMN[table_name], stamp)


@dataclass
class StagedRows:
    """What a file adds to the warehouse, decided before the warehouse is opened: the status it
    will be recorded with (unless its bytes turn out to be a duplicate) and its rows."""

    status: str
    refusal_code: str | None  # the whole-file reason, if the file is refused
    rows_input: int
    rows_loaded: int
    rows_rejected: int
    periods: list[str]
    tables: dict[str, Any]  # raw table name -> Arrow table without file id and timestamp

    @classmethod
    def of(cls, parsed: ParsedFile) -> StagedRows:
        periods = {row.period for row in parsed.submissions} | {row.period for row in parsed.status_rows}
        submissions = parsed.submission_table
        if submissions is None:
            submissions = _arrow_submissions(parsed.submissions)
        else:
            import pyarrow.compute as pc

            periods.update(pc.unique(submissions.column("period")).to_pylist())
        return cls(
            status=_status_of(parsed),
            refusal_code=None if parsed.file_issue is None else parsed.file_issue.reason_code,
            rows_input=parsed.rows_input,
            rows_loaded=parsed.rows_loaded,
            rows_rejected=len(parsed.rejections),
            periods=sorted(periods),
            tables={
                "submissions": submissions,
                "status_reports": _arrow_status(parsed.status_rows),
                "quarantine": _arrow_quarantine(parsed.rejections),
            },
        )


_RAW_COLUMNS = {
    table: {line.split()[0] for line in columns.strip().splitlines() if line.strip()}
    for table, columns in RAW_TABLES.items()
}


def _insert_arrow(con: Any, table_name: str, arrow_table: Any) -> None:
    """Bulk insert through a registered Arrow table (executemany is slow on DuckDB)."""
    if arrow_table.num_rows == 0:
        return
    # Identifiers in this SQL are ours, never the input's: the table is one of the raw tables and
    # the columns are the Arrow table's, built above from constant names. Values go in as data.
    if table_name not in RAW_TABLES or not set(arrow_table.column_names) <= _RAW_COLUMNS[table_name]:
        raise ValueError(f"not a raw table or its columns: {table_name} {arrow_table.column_names}")
    view = f"incoming_{table_name}"
    columns = ", ".join(arrow_table.column_names)
    con.register(view, arrow_table)
    try:
        con.execute(f"INSERT INTO raw.{table_name} ({columns}) SELECT {columns} FROM {view}")
    finally:
        con.unregister(view)


# Earlier files sharing a key (department, measure or item, region, period) with the new file.
_SUPERSEDE_CANDIDATES_SQL = """
SELECT DISTINCT old.file_id FROM raw.submissions AS new JOIN raw.submissions AS old
  ON old.department_code = new.department_code AND old.measure_code = new.measure_code
 AND old.region_code = new.region_code AND old.period = new.period
WHERE new.file_id = $file_id AND old.file_id < $file_id
UNION
SELECT DISTINCT old.file_id FROM raw.status_reports AS new JOIN raw.status_reports AS old
  ON old.department_code = new.department_code AND old.item_code = new.item_code
 AND old.region_code = new.region_code AND old.period = new.period
WHERE new.file_id = $file_id AND old.file_id < $file_id
"""

# Of those, the ones all of whose rows now have a later version are superseded (rows stay as
# history; staging picks the latest by file_id). A row has a later version when the newest file
# holding its key is a later one, the newest taken over the candidates' keys only; this query
# lists the candidates that still hold a current row. (Asked as "no later row exists" per row
# inside the UPDATE, DuckDB aggregated every raw row: at national size with 60 months, 8.75 M
# raw rows, a 140,148-row correction spent 54 s and 1.25 GB in that statement alone;
# tests/ingest/test_supersede.py keeps that form as the reference.)
_STILL_CURRENT_SQL = """
SELECT DISTINCT s.file_id
FROM raw.submissions AS s
LEFT JOIN (
    SELECT t.department_code, t.measure_code, t.region_code, t.period, max(t.file_id) AS newest
    FROM raw.submissions AS t
    JOIN (SELECT DISTINCT department_code, measure_code, region_code, period
          FROM raw.submissions WHERE list_contains($candidates, file_id)) AS k
      USING (department_code, measure_code, region_code, period)
    GROUP BY t.department_code, t.measure_code, t.region_code, t.period
) AS n USING (department_code, measure_code, region_code, period)
WHERE list_contains($candidates, s.file_id) AND (n.newest IS NULL OR n.newest <= s.file_id)
UNION
SELECT DISTINCT s.file_id
FROM raw.status_reports AS s
LEFT JOIN (
    SELECT t.department_code, t.item_code, t.region_code, t.period, max(t.file_id) AS newest
    FROM raw.status_reports AS t
    JOIN (SELECT DISTINCT department_code, item_code, region_code, period
          FROM raw.status_reports WHERE list_contains($candidates, file_id)) AS k
      USING (department_code, item_code, region_code, period)
    GROUP BY t.department_code, t.item_code, t.region_code, t.period
) AS n USING (department_code, item_code, region_code, period)
WHERE list_contains($candidates, s.file_id) AND (n.newest IS NULL OR n.newest <= s.file_id)
"""

_SUPERSEDE_SQL = """
UPDATE raw.file_ledger SET status = 'superseded'
WHERE status IN ('loaded', 'loaded_with_rejects') AND list_contains($files, file_id)
"""


def _mark_superseded(con: Any, file_id: int) -> None:
    candidates = [
        int(row[0]) for row in con.execute(_SUPERSEDE_CANDIDATES_SQL, {"file_id": file_id}).fetchall()
    ]
    if not candidates:
        return
    current = {int(row[0]) for row in con.execute(_STILL_CURRENT_SQL, {"candidates": candidates}).fetchall()}
    superseded = [c for c in candidates if c not in current]
    if superseded:
        con.execute(_SUPERSEDE_SQL, {"files": superseded})


def _status_of(parsed: ParsedFile) -> str:
    if parsed.file_issue is not None:
        return REJECTED
    if parsed.rows_loaded == 0:
        return REJECTED
    return LOADED_WITH_REJECTS if parsed.rejections else LOADED


def _destination(
    settings: Settings, status: str, department: str | None, file_id: int, file_name: str
) -> Path:
    folder = settings.rejected if status == REJECTED else settings.archive
    # Only a validated department code becomes a folder name.
    return folder / (department or "_unknown") / f"{file_id}__{safe_file_name(file_name)}"


# The loader reads submissions in Python and hands DuckDB only Arrow tables and parameters, so its
# connection needs no file system access beyond the database itself (and DuckDB's own spill
# directory beside it): no COPY, read_csv, ATTACH, INSTALL or extension loading, and the settings
# cannot be changed back from SQL.
HARDENED_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


# Another process (a second ingest, dbt, the gate) may hold DuckDB's single-writer lock: wait for
# it rather than fail, up to SCORECARD_LOCK_WAIT_SECONDS (default 120).
LOCK_WAIT_SECONDS = 120.0


def _connect_waiting(path: str, wait_seconds: float, memory_limit: str | None = None) -> Any:
    import duckdb

    config = dict(HARDENED_CONFIG)
    if memory_limit:
        config["memory_limit"] = memory_limit
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            return duckdb.connect(path, config=config)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


@contextmanager
def warehouse_connection(settings: Settings) -> Iterator[Any]:
    """A short-lived, locked-down connection to the warehouse with the raw schema in place; waits
    while another process holds the warehouse's write lock."""
    from scorecard.core.raw_layer import ensure_raw_schema

    wait = float(os.environ.get("SCORECARD_LOCK_WAIT_SECONDS") or LOCK_WAIT_SECONDS)
    with _connect_waiting(str(settings.warehouse_path), wait, settings.duckdb_memory_limit) as con:
        con.execute("SET lock_configuration = true")
        ensure_raw_schema(con)
        yield con


def _recorded_but_not_moved(con: Any, result: LoadResult) -> bool:
    """A file committed before whose move did not happen (a crash or a failed move right after
    the commit): the same name, department and bytes, and nothing at its stored path. Fills
    ``result`` from that ledger row, so that the retry only moves the file: it is never recorded
    twice."""
    rows = con.execute(
        "SELECT file_id, status, rows_input, rows_loaded, rows_rejected, periods, stored_path, lines_skipped"
        " FROM raw.file_ledger WHERE sha256 = ? AND file_name = ? AND department_code IS NOT DISTINCT FROM ?"
        " AND status <> ? ORDER BY file_id DESC",
        [result.sha256, result.file_name, result.department_code, DUPLICATE],
    ).fetchall()
    for file_id, status, rows_input, rows_loaded, rows_rejected, periods, stored_path, skipped in rows:
        if not stored_path or os.path.lexists(stored_path):
            continue
        result.file_id = int(file_id)
        result.status = status
        result.rows_input, result.rows_loaded, result.rows_rejected = rows_input, rows_loaded, rows_rejected
        result.lines_skipped = skipped or 0
        result.periods = periods.split(",") if periods else []
        result.stored_path = Path(stored_path)
        return True
    return False


def _write_transaction(settings: Settings, result: LoadResult, staged: StagedRows, con: Any | None) -> None:
    """Record one file in one transaction; fills ``result`` (file id, status, destination)."""
    if con is None:
        with warehouse_connection(settings) as own:
            _write_transaction(settings, result, staged, own)
        return
    now = settings.now()
    # One transaction per file, whoever owns the connection.
    con.execute("BEGIN TRANSACTION")
    try:
        if _recorded_but_not_moved(con, result):
            con.execute("COMMIT")
            return
        file_id = con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM raw.file_ledger").fetchall()[0][0]
        # The same bytes from the same department: a receipt. From another department, the file is
        # decided on its own (its rows are that department's submission).
        earlier = con.execute(
            "SELECT min(file_id) FROM raw.file_ledger WHERE sha256 = ? AND status IN (?, ?, ?)"
            " AND department_code IS NOT DISTINCT FROM ?",
            [result.sha256, LOADED, LOADED_WITH_REJECTS, SUPERSEDED, result.department_code],
        ).fetchall()[0][0]
        result.file_id = int(file_id)
        if earlier is not None and staged.refusal_code is None:
            # The same bytes again: record the receipt, load nothing.
            result.status = DUPLICATE
            result.duplicate_of = int(earlier)
            result.rows_input = result.rows_loaded = result.rows_rejected = result.lines_skipped = 0
            result.issues = []
            result.warnings = []
            result.message = f"same content as file {earlier}; nothing loaded"
        else:
            result.status = staged.status
            result.rows_loaded = staged.rows_loaded
            result.rows_rejected = staged.rows_rejected
            result.rows_input = staged.rows_input
            result.periods = list(staged.periods)
            for table_name in ("submissions", "status_reports", "quarantine"):
                _insert_arrow(con, table_name, _stamped(table_name, staged.tables[table_name], file_id, now))
        result.stored_path = _destination(
            settings, result.status, result.department_code, file_id, result.file_name
        )
        con.execute(
            """INSERT INTO raw.file_ledger (file_id, file_name, department_code, sha256, size_bytes,
                   file_format, layout, received_at, status, rows_input, rows_loaded, rows_rejected,
                   periods, message, stored_path, channel, authenticated_department, submission_id,
                   lines_skipped)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                file_id,
                result.file_name,
                result.department_code,
                result.sha256,
                result.size_bytes,
                result.file_format,
                result.layout,
                now,
                result.status,
                result.rows_input,
                result.rows_loaded,
                result.rows_rejected,
                ",".join(result.periods) or None,
                result.message,
                str(result.stored_path),
                result.provenance.channel,
                result.provenance.authenticated_department,
                result.provenance.submission_id,
                result.lines_skipped,
            ],
        )
        if result.status in {LOADED, LOADED_WITH_REJECTS}:
            _mark_superseded(con, file_id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _summary(parsed: ParsedFile) -> str | None:
    """The ledger's message for a file: masked, no terminal escapes."""
    return pii.clean(_summary_text(parsed))


def _summary_text(parsed: ParsedFile) -> str | None:
    if parsed.file_issue is not None:
        return parsed.file_issue.reason_en
    if parsed.rejections and not parsed.rows_loaded:
        return f"all {len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
    text = None
    if parsed.rejections:
        text = f"{len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
    parts = [part for part in (text, parsed.note) if part]
    # Warnings without the file name each repeats: the ledger row names the file.
    parts += ["warning: " + warning.reason_en.split(": ", 1)[-1] for warning in parsed.warnings]
    return "; ".join(parts) or None


def _issues_of(parsed: ParsedFile, file_name: str) -> list[Issue]:
    issues = [rejection.issue for rejection in parsed.rejections]
    if parsed.file_issue is not None:
        issues.insert(0, parsed.file_issue)
    elif parsed.rejections and not parsed.rows_loaded:
        issues.insert(0, Issue(file_name, None, None, "ALL_ROWS_REJECTED"))
    return issues


def _same_file(path: Path, identity: tuple[int, int] | None) -> bool:
    """True when ``path`` is (still) the regular file that was read, not a link or another file."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return identity is not None and (info.st_dev, info.st_ino) == identity


def _store(
    path: Path, destination: Path, issues: list[Issue], settings: Settings, result: LoadResult
) -> None:
    """Move (from the inbox or processing folder) or copy (from elsewhere) the file after the
    commit, with its errors beside it. What is stored is what was read: a path swapped since is
    not followed (its entry in the inbox is removed, the bytes read are written)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if issues:
        errors_path = destination.with_name(destination.name + ".errors.json")
        errors_path.write_text(
            json.dumps([issue.to_json() for issue in issues], ensure_ascii=False, indent=2), encoding="utf-8"
        )
    owned = is_within(path.parent, settings.inbox) or is_within(path.parent, settings.processing)
    same = _same_file(path, result.identity)
    if owned and (same or result.identity is None):
        shutil.move(str(path), str(destination))  # a link, folder or pipe moves as what it is
    elif result.content is not None:
        _write_bytes(destination, result.content)
        if owned:
            with contextlib.suppress(OSError):
                os.unlink(path)
    elif same:
        shutil.copyfile(path, destination, follow_symlinks=False)
    elif owned and _is_regular(path):
        # Committed elsewhere than it was read (the distributed profile: the identity of a file
        # on a shared folder may differ between machines): a regular file moves as ever.
        shutil.move(str(path), str(destination))
    elif owned:
        with contextlib.suppress(OSError):
            os.unlink(path)  # a link swapped in after the read: never followed, never kept


def _is_regular(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _write_bytes(destination: Path, data: bytes) -> None:
    partial = destination.with_name(f".{destination.name}.partial")
    with open(partial, "wb") as handle:
        handle.write(data)
    os.replace(partial, destination)


@dataclass
class _Opened:
    """A path opened once (no link followed) and read from that one descriptor."""

    kind: str  # "file", "missing" (nothing at the path), "not_regular" (a link, folder, pipe...)
    sha256: str = hashlib.sha256(b"").hexdigest()  # of the bytes loaded: none for a refused path
    size: int = 0
    data: bytes | None = None  # None when larger than the limit (hashed, not kept)
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) of what was read
    real_path: str | None = None


def _open_once(path: Path, limit: int) -> _Opened:
    """Open ``path`` once without following a link (``O_NOFOLLOW``), ``fstat`` the descriptor and
    hash and read from it: what is hashed is what is loaded, whatever happens to the path meanwhile.
    Bytes beyond ``limit`` are hashed but not kept (the file is refused as too large)."""
    import errno
    import stat

    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return _Opened("not_regular" if os.path.lexists(path) else "missing")
    except NotADirectoryError:
        return _Opened("missing")
    except OSError as exc:
        if exc.errno in {errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EMLINK}:
            return _Opened("not_regular")
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return _Opened("not_regular")
        real_path = None
        with contextlib.suppress(OSError):
            real_path = os.readlink(f"/proc/self/fd/{fd}")
        digest = hashlib.sha256()
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            else:
                chunks.clear()
        data = b"".join(chunks) if size <= limit else None
        return _Opened("file", digest.hexdigest(), size, data, (info.st_dev, info.st_ino), real_path)
    finally:
        os.close(fd)


def _not_found(path: Path, file_name: str) -> LoadResult:
    """A path with nothing at it: refused before anything is written (no ledger row, no move)."""
    issue = Issue(file_name, None, None, "FILE_NOT_FOUND", {"path": pii.mask(str(path))})
    return LoadResult(
        path=path, file_name=file_name, status=REJECTED, issues=[issue], message=issue.reason_en
    )


def prepare_file(
    path: Path,
    *,
    department: str | None,
    settings: Settings,
    confine: bool,
    root: Path | None,
) -> tuple[LoadResult, StagedRows | None]:
    """Read and validate one file (no warehouse connection): the result so far and the rows to
    commit, or no rows for a path that is refused unread (see :func:`unsafe_path`) or that does
    not exist."""
    # A name is data: one carrying a personal identifier is masked everywhere it is written, and
    # terminal escapes in it are replaced.
    file_name = pii.clean(path.name)
    problem = unsafe_path(path, settings, confine=confine)
    if problem is not None:
        params = {"path": pii.mask(str(path)), "detail": problem}
        issue = Issue(file_name, None, None, "FILE_PATH_UNSAFE", params)
        result = LoadResult(
            path=path, file_name=file_name, status=REJECTED, issues=[issue], message=issue.reason_en
        )
        return result, None
    opened = _open_once(path, settings.max_file_bytes)
    if opened.kind == "missing":
        return _not_found(path, file_name), None
    owned = is_within(path.parent, settings.inbox) or is_within(path.parent, settings.processing)
    if opened.real_path is not None and owned:
        # The kernel's own name for what was opened (no link in it; not resolved again: the path
        # may be a link by now).
        real = Path(opened.real_path)
        folders = (settings.inbox.resolve(), settings.processing.resolve())
        if not any(real.is_relative_to(folder) for folder in folders):
            params = {"path": pii.mask(str(path)), "detail": "it names the inbox but leads outside it"}
            issue = Issue(file_name, None, None, "FILE_PATH_UNSAFE", params)
            result = LoadResult(
                path=path, file_name=file_name, status=REJECTED, issues=[issue], message=issue.reason_en
            )
            return result, None
    reference = load_reference(settings)
    if department is None:
        department = infer_department(path, settings, reference, root)
    provenance = channel_of(path, opened.sha256, department, settings.home)
    sent_name = provenance.sent_name or path.name
    if provenance.sent_name:  # the API stored it as <submission id>.<ext>: show the sender's name
        file_name = pii.clean(provenance.sent_name)
    result = LoadResult(path=path, file_name=file_name, status=REJECTED, department_code=None)
    result.provenance = provenance
    result.sha256, result.size_bytes = opened.sha256, opened.size
    result.identity = opened.identity
    result.content = opened.data

    if opened.kind != "file":
        parsed = reject_all(ParsedFile(None, None, None), file_name, [], "FILE_NOT_REGULAR")
    elif pii.mask(sent_name) != sent_name:
        parsed = ParsedFile(FORMAT_BY_EXTENSION.get(path.suffix.lower()), None, None)
        finding = pii.first_finding([(None, "file_name", sent_name)])
        assert finding is not None
        reject_personal_data(parsed, file_name, [], finding)
    elif opened.data is None:
        parsed = ParsedFile(FORMAT_BY_EXTENSION.get(path.suffix.lower()), None, None)
        reject_all(parsed, file_name, [], "FILE_TOO_LARGE", size=opened.size, limit=settings.max_file_bytes)
    else:
        parsed = parse_file(
            opened.data, file_name, department_hint=department, reference=reference, settings=settings
        )
    result.department_code = parsed.department_code
    result.file_format = parsed.file_format
    result.layout = parsed.layout
    result.issues = _issues_of(parsed, file_name)
    result.warnings = list(parsed.warnings)
    result.lines_skipped = parsed.lines_skipped
    result.message = _summary(parsed)
    return result, StagedRows.of(parsed)


def commit_prepared(settings: Settings, result: LoadResult, staged: StagedRows, con: Any | None) -> None:
    """The warehouse transaction, then the move of the file to ``archive/`` or ``rejected/``."""
    _write_transaction(settings, result, staged, con)
    assert result.stored_path is not None
    path = result.path
    if os.path.lexists(path):
        _store(path, result.stored_path, result.issues, settings, result)
        # Every original is kept readable by its owner only (0600): a file may hold personal data
        # the scan cannot see (issue #23, "unclear" items: docs/reliability.md).
        with contextlib.suppress(OSError):
            if not result.stored_path.is_symlink():
                result.stored_path.chmod(0o600)
