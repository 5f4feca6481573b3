"""The submission loader: one file, one DuckDB transaction, nothing lost.

``load_file`` hashes the file, reads and validates it (no warehouse connection held meanwhile),
then in one transaction allocates the file id, records the ledger row, inserts valid rows into
``raw.submissions`` / ``raw.status_reports`` and refused rows into ``raw.quarantine``, and marks
earlier files whose every value is now superseded. Only after the commit does the file move to
``archive/`` or ``rejected/`` (with ``<name>.errors.json``): a crash before the commit leaves the
warehouse and the inbox as they were, and the retry converges; a crash between the commit and the
move leaves the file in the inbox, and the retry finds it recorded but not moved (same name,
department and bytes, nothing at its stored path) and only moves it: no file is recorded twice.

A file is opened once without following links and hashed and read from that one descriptor: the
ledger's sha256 is of the bytes loaded. A path with nothing at it is refused before anything is
written (``FILE_NOT_FOUND``); every text written about a file passes ``pii.clean``.

The two halves can also run apart, on different machines (the distributed profile,
docs/distributed.md): ``stage_file`` reads and validates a file and writes the validated rows to
Parquet in a stage folder of the shared data directory, without opening the warehouse; later,
``commit_staged`` writes a stage folder into the warehouse in the same one transaction and moves
the file. ``load_file`` is the two back to back in one process, without the Parquet round trip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import pii
from ingest.errors import FIELD_NAMES_ZH, FileRejected, Issue
from ingest.layout import (
    Extraction,
    RawRecord,
    cell_ref,
    extract_grid,
    extract_json,
    find_header,
    load_registry,
    period_from_title,
)
from ingest.readers import (
    FORMAT_BY_EXTENSION,
    Grid,
    JsonDocument,
    read_csv_grids,
    read_json_document,
    read_xlsx_grid,
)
from ingest.reference import Reference, load_reference
from ingest.rules import Rejection, StatusRow, SubmissionRow, ValidationContext
from ingest.validate import raw_json, validate_records
from scorecard.core.raw_layer import RAW_TABLES
from scorecard.core.settings import Settings, get_settings

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
    # What was read (not stored in the warehouse): the file's identity and, in one process, its bytes.
    identity: tuple[int, int] | None = field(default=None, repr=False)
    content: bytes | None = field(default=None, repr=False)

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
    note: str | None = None  # for a file that loads: e.g. the columns that were ignored
    # A file read by the columnar path (ingest/columnar.py): its accepted value rows as an Arrow
    # table shaped like ``_arrow_submissions``'s, instead of ``submissions`` (then empty).
    submission_table: Any = None

    @property
    def rows_loaded(self) -> int:
        table_rows = 0 if self.submission_table is None else self.submission_table.num_rows
        return len(self.submissions) + len(self.status_rows) + table_rows

    @property
    def rows_input(self) -> int:
        return self.rows_loaded + len(self.rejections)


# --- reading and validation ----------------------------------------------------------------------


def sha256_of(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file (for callers outside the load; the loader hashes the bytes it
    read, see :func:`_open_once`)."""
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
    parsed: ParsedFile,
    file_name: str,
    records: Iterable[Any],
    code: str,
    *,
    row_ref: str | None = None,
    field_name: str | None = None,
    **params: Any,
) -> ParsedFile:
    """Refuse the whole file; its readable rows all go to quarantine with the file's reason."""
    parsed.file_issue = Issue(file_name, row_ref, field_name, code, params)
    parsed.rejections = [
        Rejection(Issue(file_name, record.ref, None, code, params), raw_json(record)) for record in records
    ]
    return parsed


# Delimiters a clerk might have used that we do not accept (for a clear refusal, not for reading).
_FOREIGN_DELIMITERS = ("|", "^", "~", "#", "!", ":")


def _foreign_delimiter(grid: Grid) -> tuple[str, int] | None:
    """For a CSV whose header was not found: the unsupported delimiter that would reveal one."""
    import csv

    for delimiter in _FOREIGN_DELIMITERS:
        rows = [
            (number, next(csv.reader([str(cells[0]) if len(cells) == 1 else ""], delimiter=delimiter), []))
            for number, cells in grid.rows[:30]
        ]
        header = find_header(Grid(rows=rows), None)
        if header is not None:
            return delimiter, rows[header.position][0]
    return None


def _field_label(extraction: Extraction | None, grid: Grid, index: int) -> str | None:
    """The field a cell belongs to: the canonical name of its column, else its header text."""
    if extraction is None or extraction.grid is not grid or extraction.header_row is None:
        return None
    for name, column in extraction.columns.items():
        if column == index:
            return name
    cells = extraction.header_cells
    if index < len(cells) and cells[index] not in (None, ""):
        return str(cells[index]).strip()[:60]
    return None


def _grid_cells(grid: Grid) -> Iterator[tuple[Grid, tuple[int, int] | None, Any]]:
    """Every cell of a grid (and of an XLSX's other sheets) as (sheet, (row number, column index),
    value); the sheet's name with None. :func:`_grid_locate` makes the reference and field."""
    for sheet in (grid, *grid.others):
        if sheet.sheet is not None:
            yield sheet, None, sheet.sheet
        for number, cells in sheet.rows:
            if not pii.might_contain(cells):
                continue
            for index, cell in enumerate(cells):
                if cell is None or isinstance(cell, bool):
                    continue
                yield sheet, (number, index), cell


def _grid_locate(
    extraction: Extraction | None,
) -> Callable[[Grid, tuple[int, int] | None], tuple[str | None, str | None]]:
    def locate(sheet: Grid, where: tuple[int, int] | None) -> tuple[str | None, str | None]:
        if where is None:
            return f"sheet '{pii.mask(sheet.sheet or '')}'", None
        number, index = where
        return cell_ref(sheet, number, index), _field_label(extraction, sheet, index)

    return locate


def _json_cells(document: JsonDocument) -> Iterator[tuple[str | None, str | None, Any]]:
    for index, record in enumerate(document.records):
        yield from pii.walk_json(record, f"records[{index}]")
    if document.department is not None:
        yield "document", "department", document.department
    yield from pii.walk_json(document.extra, "document")


def _personal_data(source: Any, extraction: Extraction | None) -> pii.Finding | None:
    if isinstance(source, JsonDocument):
        return pii.first_finding(_json_cells(source))
    if isinstance(source, Grid):
        found = pii.first_finding(_grid_cells(source), _grid_locate(extraction))
        if found is None and source.side_texts:
            # Comments and document properties: as much a part of the file as its cells.
            found = pii.first_finding((part, None, text) for part, text in source.side_texts)
        return found
    return None


def _reject_personal_data(
    parsed: ParsedFile, file_name: str, records: list[RawRecord], finding: pii.Finding
) -> ParsedFile:
    # The raw records are masked on their way to the quarantine (see ``_arrow_quarantine``).
    return _reject_all(
        parsed,
        file_name,
        records,
        "FILE_CONTAINS_PERSONAL_DATA",
        row_ref=finding.row_ref,
        field_name=finding.field,
        **finding.params(),
    )


def _salvaged(
    rejected: FileRejected, file_format: str, registry: Any
) -> tuple[list[RawRecord], pii.Finding | None]:
    """The records a refused file still yields (for the quarantine), and any personal data in it."""
    if file_format == "json":
        documents = [item for item in rejected.grids if isinstance(item, JsonDocument)]
        if not documents:
            return [], None
        return extract_json(documents[0].records).records, _personal_data(documents[0], None)
    grids = [item for item in rejected.grids if isinstance(item, Grid)]
    if not grids:
        return [], None
    extraction = _best_extraction(grids, registry)
    assert extraction.grid is not None
    return extraction.records, _personal_data(extraction.grid, extraction)


_REQUIRED_ZH = {**FIELD_NAMES_ZH, "value": "数值"}


def _missing_column(extraction: Extraction, default_period: str | None) -> tuple[str, str] | None:
    """A required column a grid's header lacks: (field, alternative) or None."""
    columns = extraction.columns
    if extraction.header_row is None:
        return None
    if extraction.layout == "unknown":
        if {"value", "numerator", "denominator"} & set(columns):
            return "measure_code", ""
        if "status" in columns:
            return "item_code", ""
        if "item_code" in columns:
            return "status", ""
        return None
    required = {"long": ["region_code", "period"], "status": ["period"], "wide": ["region_code"]}
    for name in required[extraction.layout]:
        if name not in columns:
            return name, ""
    if (
        extraction.layout == "long"
        and "value" not in columns
        and not {"numerator", "denominator"} <= set(columns)
    ):
        return "value", "numerator+denominator"
    if extraction.layout == "wide" and "period" not in columns and not default_period:
        return "period", "title"
    return None


_ALTERNATIVES = {
    "numerator+denominator": ("（或 分子 和 分母）", " (or numerator and denominator)"),
    "title": ("（或在标题行写明统计期）", " (or a period in the title rows)"),
    "": ("", ""),
}


def _truncation(extraction: Extraction) -> tuple[int, str] | None:
    """(row, detail) when a CSV ends mid-row: inside a quoted cell, or on a short last row without a
    line break."""
    grid = extraction.grid
    if grid is None or grid.sheet is not None or not grid.rows:
        return None
    if grid.open_quote_row is not None:
        return grid.open_quote_row, "it ends inside a quoted cell"
    if grid.complete:
        return None
    number, cells = grid.rows[-1]
    named = [index for index, cell in enumerate(extraction.header_cells) if cell not in (None, "")]
    width = named[-1] + 1 if named else 0
    if extraction.header_row is not None and number > extraction.header_row and 0 < len(cells) < width:
        return number, f"the last row has {len(cells)} of {width} cells and no line break"
    return None


def _validation_context(
    file_name: str,
    department: str,
    reference: Reference,
    settings: Settings,
    default_period: str | None = None,
) -> ValidationContext:
    """The validator's context for one file (shared by the columnar and the general path)."""
    return ValidationContext(
        file_name=file_name,
        department_code=department,
        reference=reference,
        first_year=settings.first_year,
        last_year=settings.last_year,
        default_period=default_period,
    )


def _unknown_department(name: str, reference: Reference) -> dict[str, Any]:
    """The params of DEPARTMENT_UNKNOWN, with the nearest department code for a near miss
    (a misspelled folder: "did you mean `elderly_care`?")."""
    import difflib

    params: dict[str, Any] = {"department": name}
    near = difflib.get_close_matches(name, sorted(reference.departments), n=1, cutoff=0.75)
    if near:
        params["did_you_mean"] = f"; did you mean `{near[0]}`?"
        params["did_you_mean_zh"] = f"；是否应为「{near[0]}」？"
    return params


def _department(
    department_hint: str | None,
    hint_known: str | None,
    declared: str | None,
    reference: Reference,
    file_format: str,
) -> tuple[str | None, tuple[str, dict[str, Any]] | None]:
    """The department of a file: the folder (or the caller) and the file itself must agree.
    Returns (code, None), or (None, (reason code, params)) for a file refused for it."""
    declared_code = reference.department_code(declared) if declared else None
    if department_hint is not None and hint_known is None:
        return None, ("DEPARTMENT_UNKNOWN", _unknown_department(department_hint, reference))
    if declared and declared_code is None and hint_known is None:
        return None, ("DEPARTMENT_UNKNOWN", _unknown_department(declared, reference))
    if hint_known and declared_code and declared_code != hint_known and file_format == "json":
        return None, ("DEPARTMENT_CONFLICT", {"folder": hint_known, "declared": declared})
    department = hint_known or declared_code
    if department is None:
        return None, ("DEPARTMENT_MISSING", {})
    return department, None


def _parse_columnar(
    data: bytes,
    file_name: str,
    parsed: ParsedFile,
    *,
    department_hint: str | None,
    hint_known: str | None,
    registry: Any,
    reference: Reference,
    settings: Settings,
) -> ParsedFile | None:
    """A plain long-format CSV that loads, read and validated column-wise (ingest/columnar.py);
    None for any other file, and for one that would be refused as a whole (the general path then
    decides it, with the same rules and texts as ever)."""
    from ingest import columnar, fastpath

    plain = columnar.read_plain_csv(data, registry)
    if plain is None or columnar.holds_personal_data(plain):
        return None
    declared = columnar.declared_department(plain)
    department, _ = _department(department_hint, hint_known, declared, reference, "csv")
    extraction = plain.extraction
    if (
        department is None
        or _missing_column(extraction, None) is not None
        or plain.record_count == 0
        or extraction.ambiguous
    ):
        return None
    context = _validation_context(file_name, department, reference, settings)
    try:
        parsed.submission_table, parsed.rejections = columnar.validate_plain(plain, context)
    except fastpath.Declined:
        return None
    parsed.layout = extraction.layout
    parsed.department_code = department
    if extraction.unrecognized:
        parsed.note = "ignored unrecognised columns: " + ", ".join(extraction.unrecognized[:10])
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
    with ``file_issue`` set.

    Order of the checks: extension, emptiness, reading (encoding, width, JSON depth, XLSX size),
    personal data (before any other refusal could quarantine a raw cell), external links, the
    department, truncation, the header and its required columns, then each row.

    A plain long-format CSV that passes the file-level checks is read and validated column-wise
    (:func:`_parse_columnar`); every other file, and that one with the fast path switched off,
    takes the general path below. Both give the same rows, refusals and texts.
    """
    extension = Path(file_name).suffix.lower()
    file_format = FORMAT_BY_EXTENSION.get(extension)
    parsed = ParsedFile(file_format=file_format, layout=None, department_code=None)
    if file_format is None:
        return _reject_all(parsed, file_name, [], "FILE_FORMAT_UNKNOWN", extension=extension or "(none)")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return _reject_all(parsed, file_name, [], "FILE_EMPTY")

    hint_known = department_hint if department_hint in reference.departments else None
    registry = load_registry(hint_known) if hint_known else None
    if file_format == "csv" and _fastpath_enabled():
        columnar = _parse_columnar(
            data,
            file_name,
            parsed,
            department_hint=department_hint,
            hint_known=hint_known,
            registry=registry,
            reference=reference,
            settings=settings,
        )
        if columnar is not None:
            return columnar
    try:
        source = _read(data, file_format)
    except FileRejected as rejected:
        records, finding = _salvaged(rejected, file_format, registry)
        if finding is not None:
            return _reject_personal_data(parsed, file_name, records, finding)
        params = rejected.params
        where = f"row {params['row']}" if "row" in params else None
        if "other_line" in params:
            where = f"line {params['other_line']}"
        return _reject_all(parsed, file_name, records, rejected.code, row_ref=where, **params)
    extraction, declared = _extract(source, registry)
    parsed.layout = extraction.layout

    finding = _personal_data(source if isinstance(source, JsonDocument) else extraction.grid, extraction)
    if finding is not None:
        return _reject_personal_data(parsed, file_name, extraction.records, finding)
    if extraction.grid is not None and extraction.grid.external_links:
        links = ", ".join(pii.mask(link) for link in extraction.grid.external_links[:3])
        return _reject_all(parsed, file_name, extraction.records, "XLSX_EXTERNAL_LINKS", links=links)

    department, refusal = _department(department_hint, hint_known, declared, reference, file_format)
    if department is None:
        code, params = refusal or ("DEPARTMENT_MISSING", {})
        return _reject_all(parsed, file_name, extraction.records, code, **params)
    parsed.department_code = department
    if registry is None and extraction.layout == "unknown" and file_format != "json":
        # The department came from the file itself: its report form may now be recognisable.
        registry = load_registry(department)
        if registry is not None:
            extraction, _ = _extract(source, registry)
            parsed.layout = extraction.layout

    truncated = _truncation(extraction)
    if truncated is not None:
        row, detail = truncated
        return _reject_all(
            parsed,
            file_name,
            extraction.records,
            "FILE_TRUNCATED",
            row_ref=f"row {row}",
            row=row,
            detail=detail,
        )
    if not extraction.records:
        code = "FILE_HEADER_ONLY" if extraction.header_found else "FILE_EMPTY"
        return _reject_all(parsed, file_name, [], code)
    if extraction.ambiguous and extraction.grid is not None:
        column, first, second = extraction.ambiguous[0]
        cells = extraction.header_cells
        return _reject_all(
            parsed,
            file_name,
            extraction.records,
            "COLUMN_AMBIGUOUS",
            row_ref=f"row {extraction.header_row}",
            field_name=column,
            column=column,
            column_zh=_REQUIRED_ZH.get(column, column),
            first=cell_ref(extraction.grid, extraction.header_row or 0, first) + f" 「{cells[first]}」",
            second=cell_ref(extraction.grid, extraction.header_row or 0, second) + f" 「{cells[second]}」",
        )
    default_period = period_from_title(extraction.title_text) if extraction.layout == "wide" else None
    missing = _missing_column(extraction, default_period)
    if missing is not None:
        column, alternative = missing
        hint_zh, hint_en = _ALTERNATIVES[alternative]
        return _reject_all(
            parsed,
            file_name,
            extraction.records,
            "COLUMN_MISSING",
            row_ref=f"row {extraction.header_row}",
            field_name=column,
            column=column,
            column_zh=_REQUIRED_ZH.get(column, column),
            hint=hint_zh,
            hint_en=hint_en,
            unrecognized=", ".join(extraction.unrecognized) or "(none)",
        )
    if extraction.layout == "unknown":
        grid = extraction.grid
        foreign = _foreign_delimiter(grid) if grid is not None and file_format == "csv" else None
        if foreign is not None:
            delimiter, row = foreign
            return _reject_all(
                parsed,
                file_name,
                extraction.records,
                "FILE_DELIMITER_UNSUPPORTED",
                row_ref=f"row {row}",
                delimiter=delimiter,
                row=row,
            )
        return _reject_all(parsed, file_name, extraction.records, "HEADER_UNRECOGNIZED")
    if extraction.unrecognized:
        parsed.note = "ignored unrecognised columns: " + ", ".join(extraction.unrecognized[:10])

    context = _validation_context(file_name, department, reference, settings, default_period)
    parsed.submissions, parsed.status_rows, parsed.rejections = validate_records(
        extraction.records, extraction.layout, context
    )
    return parsed


def _fastpath_enabled() -> bool:
    from ingest import fastpath  # imported on first use, with pyarrow

    return fastpath.enabled()


def _read(data: bytes, file_format: str) -> JsonDocument | list[Grid]:
    """The file's content: a JSON document, or grids (one per CSV delimiter, or the XLSX data sheet)."""
    if file_format == "json":
        return read_json_document(data)
    if file_format == "xlsx":
        return [read_xlsx_grid(data)]
    return read_csv_grids(data)


def _best_extraction(grids: list[Grid], registry: Any) -> Extraction:
    # Among the delimiters tried, keep the reading whose header names the most known columns.
    extractions = [extract_grid(grid, registry) for grid in grids]
    return max(extractions, key=lambda extraction: (extraction.header_found, len(extraction.columns)))


def _extract(source: JsonDocument | list[Grid], registry: Any) -> tuple[Extraction, str | None]:
    if isinstance(source, JsonDocument):
        extraction = extract_json(source.records)
        return extraction, source.department or _declared_department(extraction)
    best = _best_extraction(source, registry)
    return best, _declared_department(best)


# --- paths ---------------------------------------------------------------------------------------


# A stored name is "<file id>__<safe name>[.errors.json]": 255 bytes at most on every file system.
MAX_NAME_BYTES = 160


def safe_file_name(name: str) -> str:
    """A file name fit to join to our folders: no directories, no dots in front, tame characters.

    A submitted name is data, never a path ("../../etc/passwd" becomes "etc_passwd")."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = re.sub(r"[^\w.\-]+", "_", base).lstrip("._") or "file"
    if len(base.encode("utf-8")) <= MAX_NAME_BYTES:
        return base
    # Too long for a folder entry once a file id and ".errors.json" are added: keep the start and
    # the extension, and a hash of the whole name so that two long names stay apart.
    stem, dot, extension = base.rpartition(".")
    extension = extension[:16] if dot and stem else ""
    tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    room = MAX_NAME_BYTES - len(tag) - (len(extension) + 1 if extension else 0)
    head = (stem if extension else base).encode("utf-8")[:room].decode("utf-8", "ignore")
    return head + tag + ("." + extension if extension else "")


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def unsafe_path(path: str | os.PathLike[str], settings: Settings, *, confine: bool = False) -> str | None:
    """Why the loader must not read ``path`` (None when it may).

    Always: a path that names a place in the inbox or processing folder but leads elsewhere (a
    ``..`` segment or a linked folder). With ``confine`` (paths that come from a request rather than
    from an operator's command line, e.g. an Airflow run's conf): any path that does not lie in the
    inbox or processing folder, and any path with a ``..`` segment.
    """
    raw = Path(path)
    folders = (settings.inbox, settings.processing)
    lexical = Path(os.path.abspath(raw))  # ".." collapsed by text, links not followed
    named_inside = any(lexical.is_relative_to(Path(os.path.abspath(folder))) for folder in folders)
    # The folder the file is in (a link as the file itself is refused later, as not a regular file).
    inside = any(_is_within(raw.parent, folder) for folder in folders)
    if named_inside and not inside:
        return "it names the inbox but leads outside it"
    if ".." in raw.parts and confine:
        return "'..' in the path"
    if confine and not inside:
        return "only files in the inbox or processing folder may be loaded this way"
    return None


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
        periods = {row.period for row in [*parsed.submissions, *parsed.status_rows]}
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
        "SELECT file_id, status, rows_input, rows_loaded, rows_rejected, periods, stored_path"
        " FROM raw.file_ledger WHERE sha256 = ? AND file_name = ? AND department_code IS NOT DISTINCT FROM ?"
        " AND status <> ? ORDER BY file_id DESC",
        [result.sha256, result.file_name, result.department_code, DUPLICATE],
    ).fetchall()
    for file_id, status, rows_input, rows_loaded, rows_rejected, periods, stored_path in rows:
        if not stored_path or os.path.lexists(stored_path):
            continue
        result.file_id = int(file_id)
        result.status = status
        result.rows_input, result.rows_loaded, result.rows_rejected = rows_input, rows_loaded, rows_rejected
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
            result.rows_input = result.rows_loaded = result.rows_rejected = 0
            result.issues = []
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
    """The ledger's message for a file: masked, no terminal escapes."""
    return pii.clean(_summary_text(parsed))


def _summary_text(parsed: ParsedFile) -> str | None:
    if parsed.file_issue is not None:
        return parsed.file_issue.reason_en
    if parsed.rejections and not parsed.rows_loaded:
        return f"all {len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
    if parsed.rejections:
        text = f"{len(parsed.rejections)} rows rejected; first: {parsed.rejections[0].issue.reason_en}"
        return f"{text}; {parsed.note}" if parsed.note else text
    return parsed.note


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
    owned = _is_within(path.parent, settings.inbox) or _is_within(path.parent, settings.processing)
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


def _prepare(
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
    owned = _is_within(path.parent, settings.inbox) or _is_within(path.parent, settings.processing)
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
    result = LoadResult(path=path, file_name=file_name, status=REJECTED, department_code=None)
    result.sha256, result.size_bytes = opened.sha256, opened.size
    result.identity = opened.identity
    result.content = opened.data

    if opened.kind != "file":
        parsed = _reject_all(ParsedFile(None, None, None), file_name, [], "FILE_NOT_REGULAR")
    elif pii.mask(path.name) != path.name:
        parsed = ParsedFile(FORMAT_BY_EXTENSION.get(path.suffix.lower()), None, None)
        finding = pii.first_finding([(None, "file_name", path.name)])
        assert finding is not None
        _reject_personal_data(parsed, file_name, [], finding)
    elif opened.data is None:
        parsed = ParsedFile(FORMAT_BY_EXTENSION.get(path.suffix.lower()), None, None)
        _reject_all(parsed, file_name, [], "FILE_TOO_LARGE", size=opened.size, limit=settings.max_file_bytes)
    else:
        parsed = parse_file(
            opened.data, file_name, department_hint=department, reference=reference, settings=settings
        )
    result.department_code = parsed.department_code
    result.file_format = parsed.file_format
    result.layout = parsed.layout
    result.issues = _issues_of(parsed, file_name)
    result.message = _summary(parsed)
    return result, StagedRows.of(parsed)


def _commit(settings: Settings, result: LoadResult, staged: StagedRows, con: Any | None) -> None:
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


def load_file(
    path: str | os.PathLike[str],
    *,
    department: str | None = None,
    settings: Settings | None = None,
    confine: bool = False,
    _root: Path | None = None,
    _connection: Any | None = None,
) -> LoadResult:
    """Load one submission file into the raw layer; see the module docstring for the guarantees.

    ``department`` overrides the department the file's folder implies. ``confine`` refuses paths
    outside the inbox and processing folders (use it for paths that arrive in a request, such as
    an Airflow run's conf); see :func:`unsafe_path`. A refused path is neither read, recorded nor
    moved: the result has status ``rejected``, reason ``FILE_PATH_UNSAFE`` and no file id.
    """
    settings = settings or get_settings()
    settings.ensure_dirs()
    result, staged = _prepare(
        Path(path), department=department, settings=settings, confine=confine, root=_root
    )
    if staged is not None:
        _commit(settings, result, staged, _connection)
    return result


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
    result, staged = _prepare(path, department=department, settings=settings, confine=confine, root=root)
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
        "identity": list(result.identity) if result.identity else None,
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
        _commit(settings, result, staged, _connection)
    shutil.rmtree(stage_dir, ignore_errors=True)
    return result


def explain_failure(exc: BaseException) -> str:
    """A reason a person can act on (zh / en) for a load that raised, instead of a traceback: the
    warehouse held by another process, a full disk, a data directory that cannot be written."""
    import errno

    text = str(exc)
    lowered = text.lower()
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.ENOSPC or "no space left" in lowered:
        why = (
            "磁盘已满，本文件未入库，请清理空间后重试 / "
            "disk full: nothing was recorded for this file; free space and retry"
        )
    elif "transaction is aborted" in lowered or "transactioncontext" in lowered:
        why = (
            "写入仓库失败，事务已回滚（磁盘是否已满？），本文件未入库 / "
            "a write to the warehouse failed and was rolled back (disk full?): nothing was recorded"
        )
    elif "lock" in lowered and ("conflict" in lowered or "could not set lock" in lowered):
        why = (
            "数据仓库正被其他进程占用（只读查询或构建），请稍后重试 / "
            "the warehouse is held by another process (a reader or a build): retry when it is done"
        )
    elif (
        isinstance(exc, PermissionError)
        or code in {errno.EACCES, errno.EROFS}
        or "read-only file system" in lowered
    ):
        why = "数据目录不可写 / the data directory cannot be written"
    else:
        why = f"导入失败 / the load failed: {type(exc).__name__}"
    return pii.clean(f"{why} ({text[:300]})")


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
    paths: Iterable[str | os.PathLike[str]] | None = None,
    settings: Settings | None = None,
    *,
    confine: bool = False,
    department: str | None = None,
) -> list[LoadResult]:
    """Load files and folders (a folder: every file below it, the department from each file's
    sub-folder, as in the inbox). No paths: the inbox. A file whose load raises is reported with
    status ``failed`` and left where it is, so a retry picks it up."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    sources = [Path(raw) for raw in list(paths or []) or [settings.inbox]]

    def listing() -> list[tuple[Path, Path | None]]:
        targets: list[tuple[Path, Path | None]] = []
        for path in sources:
            if path.is_dir() and not path.is_symlink():
                targets.extend((file, path) for file in iter_submission_files(path))
            else:
                targets.append((path, None))
        return targets

    results: list[LoadResult] = []
    if not listing():
        return results
    # One connection for the batch (opening and checkpointing per file is most of the cost);
    # each file is still its own transaction. The folders are listed again once the warehouse's
    # lock is held: another ingest may have taken files while this one waited (issue #23 point 11).
    with warehouse_connection(settings) as con:
        for path, root in listing():
            if root is not None and not os.path.lexists(path):
                continue  # listed, then taken by another process: not ours to record
            try:
                results.append(
                    load_file(
                        path,
                        department=department,
                        settings=settings,
                        confine=confine,
                        _root=root,
                        _connection=con,
                    )
                )
            except Exception as exc:  # report and carry on: the file stays for a retry
                message = explain_failure(exc)
                results.append(
                    LoadResult(path=path, file_name=pii.clean(path.name), status=FAILED, message=message)
                )
    return results
