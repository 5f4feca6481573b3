"""Parse: a submission's bytes to validated rows (:class:`ParsedFile`), or to the reason it is
refused. No warehouse connection, no file moved. Part of the loader (``ingest.loader`` is the
façade).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest import pii
from ingest.errors import FIELD_NAMES_ZH, FileRejected, Issue
from ingest.form_checks import form_warnings
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
from ingest.reference import Reference
from ingest.rules import Rejection, StatusRow, SubmissionRow, ValidationContext
from ingest.validate import raw_json, validate_records
from scorecard.core.settings import Settings


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
    lines_skipped: int = 0  # total rows and footer lines: not records (ingest/form_checks.py)
    warnings: list[Issue] = field(default_factory=list)
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


def reject_all(
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


def reject_personal_data(
    parsed: ParsedFile, file_name: str, records: list[RawRecord], finding: pii.Finding
) -> ParsedFile:
    # The raw records are masked on their way to the quarantine (see ``_arrow_quarantine``).
    return reject_all(
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
        # A region may be given by name alone (issue #20): 地区 / 行政区划名称 instead of the code.
        if name not in columns and not (name == "region_code" and "region_name" in columns):
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
        return reject_all(parsed, file_name, [], "FILE_FORMAT_UNKNOWN", extension=extension or "(none)")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return reject_all(parsed, file_name, [], "FILE_EMPTY")

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
            return reject_personal_data(parsed, file_name, records, finding)
        params = rejected.params
        where = f"row {params['row']}" if "row" in params else None
        if "other_line" in params:
            where = f"line {params['other_line']}"
        return reject_all(parsed, file_name, records, rejected.code, row_ref=where, **params)
    extraction, declared = _extract(source, registry)
    parsed.layout = extraction.layout
    parsed.lines_skipped = len(extraction.form.skipped) if extraction.form else 0

    finding = _personal_data(source if isinstance(source, JsonDocument) else extraction.grid, extraction)
    if finding is not None:
        return reject_personal_data(parsed, file_name, extraction.records, finding)
    if extraction.grid is not None and extraction.grid.external_links:
        links = ", ".join(pii.mask(link) for link in extraction.grid.external_links[:3])
        return reject_all(parsed, file_name, extraction.records, "XLSX_EXTERNAL_LINKS", links=links)

    department, refusal = _department(department_hint, hint_known, declared, reference, file_format)
    if department is None:
        code, params = refusal or ("DEPARTMENT_MISSING", {})
        return reject_all(parsed, file_name, extraction.records, code, **params)
    parsed.department_code = department
    if registry is None and extraction.layout == "unknown" and file_format != "json":
        # The department came from the file itself: its report form may now be recognisable.
        registry = load_registry(department)
        if registry is not None:
            extraction, _ = _extract(source, registry)
            parsed.layout = extraction.layout
            parsed.lines_skipped = len(extraction.form.skipped) if extraction.form else 0

    truncated = _truncation(extraction)
    if truncated is not None:
        row, detail = truncated
        return reject_all(
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
        return reject_all(parsed, file_name, [], code)
    if extraction.ambiguous and extraction.grid is not None:
        column, first, second = extraction.ambiguous[0]
        cells = extraction.header_cells
        return reject_all(
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
        return reject_all(
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
            return reject_all(
                parsed,
                file_name,
                extraction.records,
                "FILE_DELIMITER_UNSUPPORTED",
                row_ref=f"row {row}",
                delimiter=delimiter,
                row=row,
            )
        return reject_all(parsed, file_name, extraction.records, "HEADER_UNRECOGNIZED")
    if extraction.unrecognized:
        parsed.note = "ignored unrecognised columns: " + ", ".join(extraction.unrecognized[:10])

    context = _validation_context(file_name, department, reference, settings, default_period)
    parsed.submissions, parsed.status_rows, parsed.rejections = validate_records(
        extraction.records, extraction.layout, context
    )
    if extraction.form is not None:
        parsed.warnings = form_warnings(extraction.form, reference, file_name)
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
