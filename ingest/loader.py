"""The submission loader: one file, one DuckDB transaction, nothing lost.

``load_file`` hashes the file, reads and validates it (no warehouse connection held meanwhile),
then in one transaction allocates the file id, records the ledger row, inserts valid rows into
``raw.submissions`` / ``raw.status_reports`` and refused rows into ``raw.quarantine``, and marks
earlier files whose every value is now superseded. Only after the commit does the file move to
``archive/`` or ``rejected/`` (with ``<name>.errors.json``): a crash before the commit leaves the
warehouse and the inbox as they were, and the retry converges; a crash between the commit and the
move leaves the file in the inbox, and the retry records it as a duplicate and moves it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import FileRejected, Issue
from ingest.layout import Extraction, extract_grid, extract_json, load_registry, period_from_title
from ingest.readers import (
    FORMAT_BY_EXTENSION,
    Grid,
    read_csv_grids,
    read_json_document,
    read_xlsx_grid,
)
from ingest.reference import Reference, load_reference
from ingest.validate import (
    Rejection,
    StatusRow,
    SubmissionRow,
    ValidationContext,
    raw_json,
    validate_records,
)
from scorecard.config import Settings, get_settings

LOADED = "loaded"
LOADED_WITH_REJECTS = "loaded_with_rejects"
REJECTED = "rejected"
DUPLICATE = "duplicate"
SUPERSEDED = "superseded"
FAILED = "failed"  # not a ledger status: the load raised and nothing was recorded

# Files in a folder that are never submissions: our own outputs and the generator's manifest.
RESERVED_SUFFIXES = (".errors.json",)
RESERVED_NAMES = frozenset({"faults_manifest.json"})


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
    periods: list[str] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    stored_path: Path | None = None
    message: str | None = None
    duplicate_of: int | None = None

    @property
    def ok(self) -> bool:
        """True when nothing was refused (a duplicate is fine: it adds nothing)."""
        return self.status in {LOADED, DUPLICATE}


@dataclass
class ParsedFile:
    """A file read and validated, before anything is written."""

    file_format: str | None
    layout: str | None
    department_code: str | None
    submissions: list[SubmissionRow] = field(default_factory=list)
    status_rows: list[StatusRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    file_issue: Issue | None = None

    @property
    def rows_input(self) -> int:
        return len(self.submissions) + len(self.status_rows) + len(self.rejections)


# --- reading and validation ----------------------------------------------------------------------


def sha256_of(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _declared_department(extraction: Extraction) -> str | None:
    for record in extraction.records:
        value = record.values.get("department")
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _reject_all(
    parsed: ParsedFile, file_name: str, records: Iterable[Any], code: str, **params: Any
) -> ParsedFile:
    """Refuse the whole file; its readable rows all go to quarantine with the file's reason."""
    parsed.file_issue = Issue(file_name, None, None, code, params)
    parsed.rejections = [
        Rejection(Issue(file_name, record.ref, None, code, params), raw_json(record)) for record in records
    ]
    return parsed


def parse_file(
    data: bytes,
    file_name: str,
    *,
    department_hint: str | None,
    reference: Reference,
    settings: Settings,
) -> ParsedFile:
    """Read and validate a file's bytes. Never raises for bad content: a refused file comes back
    with ``file_issue`` set."""
    extension = Path(file_name).suffix.lower()
    file_format = FORMAT_BY_EXTENSION.get(extension)
    parsed = ParsedFile(file_format=file_format, layout=None, department_code=None)
    if file_format is None:
        return _reject_all(parsed, file_name, [], "FILE_FORMAT_UNKNOWN", extension=extension or "(none)")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return _reject_all(parsed, file_name, [], "FILE_EMPTY")

    hint_known = department_hint if department_hint in reference.departments else None
    registry = load_registry(hint_known) if hint_known else None
    try:
        extraction, declared = _extract(data, file_format, registry)
    except FileRejected as rejected:
        return _reject_all(parsed, file_name, [], rejected.code, **rejected.params)
    parsed.layout = extraction.layout

    # The department: the folder (or the caller) and the file itself must agree.
    declared_code = reference.department_code(declared) if declared else None
    if department_hint is not None and hint_known is None:
        return _reject_all(
            parsed, file_name, extraction.records, "DEPARTMENT_UNKNOWN", department=department_hint
        )
    if declared and declared_code is None and hint_known is None:
        return _reject_all(parsed, file_name, extraction.records, "DEPARTMENT_UNKNOWN", department=declared)
    if hint_known and declared_code and declared_code != hint_known and file_format == "json":
        return _reject_all(
            parsed, file_name, extraction.records, "DEPARTMENT_CONFLICT", folder=hint_known, declared=declared
        )
    department = hint_known or declared_code
    if department is None:
        return _reject_all(parsed, file_name, extraction.records, "DEPARTMENT_MISSING")
    parsed.department_code = department
    if registry is None and extraction.layout == "unknown" and file_format != "json":
        # The department came from the file itself: its report form may now be recognisable.
        registry = load_registry(department)
        if registry is not None:
            extraction, _ = _extract(data, file_format, registry)
            parsed.layout = extraction.layout

    if not extraction.records:
        code = "FILE_HEADER_ONLY" if extraction.header_found else "FILE_EMPTY"
        return _reject_all(parsed, file_name, [], code)
    if extraction.layout == "unknown":
        return _reject_all(parsed, file_name, extraction.records, "HEADER_UNRECOGNIZED")

    context = ValidationContext(
        file_name=file_name,
        department_code=department,
        reference=reference,
        first_year=settings.first_year,
        last_year=settings.last_year,
        default_period=period_from_title(extraction.title_text) if extraction.layout == "wide" else None,
    )
    parsed.submissions, parsed.status_rows, parsed.rejections = validate_records(
        extraction.records, extraction.layout, context
    )
    return parsed


def _extract(data: bytes, file_format: str, registry: Any) -> tuple[Extraction, str | None]:
    if file_format == "json":
        document = read_json_document(data)
        extraction = extract_json(document.records)
        return extraction, document.department or _declared_department(extraction)
    if file_format == "xlsx":
        grids: list[Grid] = [read_xlsx_grid(data)]
    else:
        grids = read_csv_grids(data)
    extractions = [extract_grid(grid, registry) for grid in grids]
    # Among the delimiters tried, keep the reading whose header names the most known columns.
    best = max(extractions, key=lambda extraction: (extraction.header_found, len(extraction.columns)))
    return best, _declared_department(best)


# --- paths ---------------------------------------------------------------------------------------


def safe_file_name(name: str) -> str:
    """A file name fit to join to our folders: no directories, no dots in front, tame characters.

    A submitted name is data, never a path ("../../etc/passwd" becomes "etc_passwd")."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = re.sub(r"[^\w.\-]+", "_", base).lstrip("._")
    return base[:120] or "file"


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def infer_department(
    path: Path, settings: Settings, reference: Reference, root: Path | None = None
) -> str | None:
    """The department a file's location implies: the first folder below the root (the inbox, the
    processing folder or a folder given to ``load_paths``) or the root itself, if it is a known
    department code. A sub-folder of the root that is not a department code is returned as is,
    so that the file is refused as "unknown department" rather than guessed."""
    roots = [root] if root is not None else [settings.inbox, settings.processing]
    for candidate_root in roots:
        if candidate_root is None or not _is_within(path, candidate_root):
            continue
        folders = path.resolve().parent.relative_to(candidate_root.resolve()).parts
        for name in (candidate_root.name, *folders):
            if name in reference.departments:
                return name
        return folders[0] if folders else None
    return path.parent.name if path.parent.name in reference.departments else None


# --- the transaction -----------------------------------------------------------------------------


def _arrow_submissions(rows: list[SubmissionRow], file_id: int, loaded_at: Any) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "file_id": pa.array([file_id] * len(rows), pa.int64()),
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
            "loaded_at": pa.array([loaded_at] * len(rows), pa.timestamp("us")),
        }
    )


def _arrow_status(rows: list[StatusRow], file_id: int, loaded_at: Any) -> Any:
    import pyarrow as pa

    return pa.table(
        {
            "file_id": pa.array([file_id] * len(rows), pa.int64()),
            "row_ref": pa.array([row.row_ref for row in rows], pa.string()),
            "department_code": pa.array([row.department_code for row in rows], pa.string()),
            "item_code": pa.array([row.item_code for row in rows], pa.string()),
            "region_code": pa.array([row.region_code for row in rows], pa.string()),
            "period": pa.array([row.period for row in rows], pa.string()),
            "status": pa.array([row.status for row in rows], pa.string()),
            "status_date": pa.array([row.status_date for row in rows], pa.date32()),
            "evidence": pa.array([row.evidence for row in rows], pa.string()),
            "note": pa.array([row.note for row in rows], pa.string()),
            "loaded_at": pa.array([loaded_at] * len(rows), pa.timestamp("us")),
        }
    )


def _arrow_quarantine(rejections: list[Rejection], file_id: int, at: Any) -> Any:
    import pyarrow as pa

    issues = [rejection.issue for rejection in rejections]
    return pa.table(
        {
            "file_id": pa.array([file_id] * len(issues), pa.int64()),
            "row_ref": pa.array([issue.row_ref or "" for issue in issues], pa.string()),
            "field": pa.array([issue.field for issue in issues], pa.string()),
            "reason_code": pa.array([issue.reason_code for issue in issues], pa.string()),
            "reason_zh": pa.array([issue.reason_zh for issue in issues], pa.string()),
            "reason_en": pa.array([issue.reason_en for issue in issues], pa.string()),
            "raw_record": pa.array([rejection.raw_record for rejection in rejections], pa.string()),
            "quarantined_at": pa.array([at] * len(issues), pa.timestamp("us")),
        }
    )


def _insert_arrow(con: Any, table_name: str, arrow_table: Any) -> None:
    """Bulk insert through a registered Arrow table (executemany is slow on DuckDB)."""
    if arrow_table.num_rows == 0:
        return
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
# history; staging picks the latest by file_id).
_SUPERSEDE_SQL = """
UPDATE raw.file_ledger AS ledger SET status = 'superseded'
WHERE ledger.status IN ('loaded', 'loaded_with_rejects')
  AND list_contains($candidates, ledger.file_id)
  AND NOT EXISTS (
      SELECT 1 FROM raw.submissions AS s
      WHERE s.file_id = ledger.file_id AND NOT EXISTS (
          SELECT 1 FROM raw.submissions AS t
          WHERE t.file_id > s.file_id AND t.department_code = s.department_code
            AND t.measure_code = s.measure_code AND t.region_code = s.region_code
            AND t.period = s.period))
  AND NOT EXISTS (
      SELECT 1 FROM raw.status_reports AS s
      WHERE s.file_id = ledger.file_id AND NOT EXISTS (
          SELECT 1 FROM raw.status_reports AS t
          WHERE t.file_id > s.file_id AND t.department_code = s.department_code
            AND t.item_code = s.item_code AND t.region_code = s.region_code
            AND t.period = s.period))
"""


def _mark_superseded(con: Any, file_id: int) -> None:
    candidates = [
        int(row[0]) for row in con.execute(_SUPERSEDE_CANDIDATES_SQL, {"file_id": file_id}).fetchall()
    ]
    if candidates:
        con.execute(_SUPERSEDE_SQL, {"candidates": candidates})


def _status_of(parsed: ParsedFile) -> str:
    if parsed.file_issue is not None:
        return REJECTED
    loaded = len(parsed.submissions) + len(parsed.status_rows)
    if loaded == 0:
        return REJECTED
    return LOADED_WITH_REJECTS if parsed.rejections else LOADED


def _destination(
    settings: Settings, status: str, department: str | None, file_id: int, file_name: str
) -> Path:
    folder = settings.rejected if status == REJECTED else settings.archive
    # Only a validated department code becomes a folder name.
    return folder / (department or "_unknown") / f"{file_id}__{safe_file_name(file_name)}"


@contextmanager
def warehouse_connection(settings: Settings) -> Iterator[Any]:
    """A short-lived connection to the warehouse with the raw schema in place."""
    import duckdb

    from ingest.schema import ensure_raw_schema

    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_raw_schema(con)
        yield con


def _write_transaction(settings: Settings, result: LoadResult, parsed: ParsedFile, con: Any | None) -> None:
    """Record one file in one transaction; fills ``result`` (file id, status, destination)."""
    if con is None:
        with warehouse_connection(settings) as own:
            _write_transaction(settings, result, parsed, own)
        return
    now = settings.now()
    # One transaction per file, whoever owns the connection.
    con.execute("BEGIN TRANSACTION")
    try:
        file_id = con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM raw.file_ledger").fetchall()[0][0]
        earlier = con.execute(
            "SELECT min(file_id) FROM raw.file_ledger WHERE sha256 = ? AND status IN (?, ?, ?)",
            [result.sha256, LOADED, LOADED_WITH_REJECTS, SUPERSEDED],
        ).fetchall()[0][0]
        result.file_id = int(file_id)
        if earlier is not None and parsed.file_issue is None:
            # The same bytes again: record the receipt, load nothing.
            result.status = DUPLICATE
            result.duplicate_of = int(earlier)
            result.rows_input = result.rows_loaded = result.rows_rejected = 0
            result.issues = []
            result.message = f"same content as file {earlier}; nothing loaded"
        else:
            result.status = _status_of(parsed)
            result.rows_loaded = len(parsed.submissions) + len(parsed.status_rows)
            result.rows_rejected = len(parsed.rejections)
            result.rows_input = parsed.rows_input
            result.periods = sorted({row.period for row in [*parsed.submissions, *parsed.status_rows]})
            _insert_arrow(con, "submissions", _arrow_submissions(parsed.submissions, file_id, now))
            _insert_arrow(con, "status_reports", _arrow_status(parsed.status_rows, file_id, now))
            _insert_arrow(con, "quarantine", _arrow_quarantine(parsed.rejections, file_id, now))
        result.stored_path = _destination(
            settings, result.status, result.department_code, file_id, result.file_name
        )
        con.execute(
            """INSERT INTO raw.file_ledger (file_id, file_name, department_code, sha256, size_bytes,
                   file_format, layout, received_at, status, rows_input, rows_loaded, rows_rejected,
                   periods, message, stored_path)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
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
            ],
        )
        if result.status in {LOADED, LOADED_WITH_REJECTS}:
            _mark_superseded(con, file_id)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _summary(parsed: ParsedFile) -> str | None:
    if parsed.file_issue is not None:
        return parsed.file_issue.reason_en
    if parsed.rejections and not (parsed.submissions or parsed.status_rows):
        return f"all {len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
    if parsed.rejections:
        return f"{len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
    return None


def _issues_of(parsed: ParsedFile, file_name: str) -> list[Issue]:
    issues = [rejection.issue for rejection in parsed.rejections]
    if parsed.file_issue is not None:
        issues.insert(0, parsed.file_issue)
    elif parsed.rejections and not (parsed.submissions or parsed.status_rows):
        issues.insert(0, Issue(file_name, None, None, "ALL_ROWS_REJECTED"))
    return issues


def _store(path: Path, destination: Path, issues: list[Issue], settings: Settings) -> None:
    """Move (from the inbox or processing folder) or copy (from elsewhere) the file after the
    commit, with its errors beside it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if issues:
        errors_path = destination.with_name(destination.name + ".errors.json")
        errors_path.write_text(
            json.dumps([issue.to_json() for issue in issues], ensure_ascii=False, indent=2), encoding="utf-8"
        )
    owned = _is_within(path, settings.inbox) or _is_within(path, settings.processing)
    if owned:
        shutil.move(str(path), str(destination))
    elif path.is_file() and not path.is_symlink():
        shutil.copy2(path, destination)


def load_file(
    path: str | os.PathLike[str],
    *,
    department: str | None = None,
    settings: Settings | None = None,
    _root: Path | None = None,
    _connection: Any | None = None,
) -> LoadResult:
    """Load one submission file into the raw layer; see the module docstring for the guarantees.

    ``department`` overrides the department the file's folder implies.
    """
    settings = settings or get_settings()
    settings.ensure_dirs()
    reference = load_reference(settings)
    path = Path(path)
    file_name = path.name
    if department is None:
        department = infer_department(path, settings, reference, _root)
    result = LoadResult(path=path, file_name=file_name, status=REJECTED, department_code=None)

    if path.is_symlink() or not path.is_file():
        parsed = _reject_all(ParsedFile(None, None, None), file_name, [], "FILE_NOT_REGULAR")
    else:
        result.sha256, result.size_bytes = sha256_of(path)
        if result.size_bytes > settings.max_file_bytes:
            parsed = ParsedFile(FORMAT_BY_EXTENSION.get(path.suffix.lower()), None, None)
            _reject_all(
                parsed, file_name, [], "FILE_TOO_LARGE", size=result.size_bytes, limit=settings.max_file_bytes
            )
        else:
            data = path.read_bytes()
            parsed = parse_file(
                data, file_name, department_hint=department, reference=reference, settings=settings
            )
    result.department_code = parsed.department_code
    result.file_format = parsed.file_format
    result.layout = parsed.layout
    result.issues = _issues_of(parsed, file_name)
    result.message = _summary(parsed)

    _write_transaction(settings, result, parsed, _connection)
    assert result.stored_path is not None
    if path.exists() or path.is_symlink():
        _store(path, result.stored_path, result.issues, settings)
    return result


def iter_submission_files(root: Path) -> list[Path]:
    """Every file below a folder, in a stable order, skipping hidden files, our ``.errors.json``
    outputs and the generator's manifest."""
    files = []
    for candidate in sorted(root.rglob("*")):
        relative = candidate.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if candidate.is_dir():
            continue
        if candidate.name in RESERVED_NAMES or candidate.name.endswith(RESERVED_SUFFIXES):
            continue
        files.append(candidate)
    return files


def load_paths(
    paths: Iterable[str | os.PathLike[str]] | None = None, settings: Settings | None = None
) -> list[LoadResult]:
    """Load files and folders (a folder: every file below it, the department from each file's
    sub-folder, as in the inbox). No paths: the inbox. A file whose load raises is reported with
    status ``failed`` and left where it is, so a retry picks it up."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    targets: list[tuple[Path, Path | None]] = []
    for raw in list(paths or []) or [settings.inbox]:
        path = Path(raw)
        if path.is_dir() and not path.is_symlink():
            targets.extend((file, path) for file in iter_submission_files(path))
        else:
            targets.append((path, None))
    results = []
    if not targets:
        return results
    # One connection for the batch (opening and checkpointing per file is most of the cost);
    # each file is still its own transaction.
    with warehouse_connection(settings) as con:
        for path, root in targets:
            try:
                results.append(load_file(path, settings=settings, _root=root, _connection=con))
            except Exception as exc:  # report and carry on: the file stays for a retry
                message = f"{type(exc).__name__}: {exc}"
                results.append(LoadResult(path=path, file_name=path.name, status=FAILED, message=message))
    return results
