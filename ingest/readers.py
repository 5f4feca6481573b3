"""Reading submission files into cell grids (CSV, XLSX) or records (JSON), safely.

- CSV: UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), GB18030 (a
  superset of GBK and GB2312); comma or tab, chosen by which one yields a recognisable header.
- XLSX: openpyxl in read-only, data-only mode (formulas are never evaluated: a formula cell gives
  the value Excel cached, or nothing), XML parsed through defusedxml, and the archive's unpacked
  size checked before any XML is parsed (zip bombs).
- JSON: a list of records, or an object with ``department`` and ``records``.

Readers raise :class:`ingest.errors.FileRejected` for files that cannot be read at all.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import FileRejected

# Excel sheets holding the data, by preference; otherwise the first sheet.
DATA_SHEET_NAMES = ("数据", "data")
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_XLSX_MEMBERS = 10_000
CSV_DELIMITERS = (",", "\t", ";")
# More columns than any report form needs: a wrong delimiter, or a file built to exhaust memory.
MAX_COLUMNS = 1000
# A record list inside an object is depth 3; a record's value may be an object (4). Anything far
# deeper is not a submission (and Python's json recursion would fail on it anyway).
MAX_JSON_DEPTH = 16
# Salvaged rows of a too-wide file keep this many cells in the quarantine.
SALVAGE_CELLS = 50
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")

FORMAT_BY_EXTENSION = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
}


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Each allocation burst of a large file (CSV rows, records, validated rows) otherwise triggers
    collections that walk every object already built: about half the loader's time on a 70k-row
    file. Nothing here makes reference cycles, and reference counting still frees everything at
    once; the collector is back on (if it was on) when the block ends, whatever happens in it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Grid:
    """A sheet of cells: ``rows`` are (1-based row number, cell values) as the clerk sees them."""

    rows: list[tuple[int, list[Any]]]
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    # CSV: False when the text does not end with a line break (a truncated upload, perhaps);
    # ``open_quote_row``: the row in which the text ends inside a quoted cell.
    complete: bool = True
    open_quote_row: int | None = None
    # XLSX: the other sheets (scanned for personal data, never loaded) and external links.
    others: list[Grid] = field(default_factory=list)
    external_links: list[str] = field(default_factory=list)
    # XLSX: the text of the parts a clerk does not see in the grid, (part name, text): comments and
    # document properties (author, title...). Scanned for personal data, never loaded.
    side_texts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def width(self) -> int:
        return max((len(cells) for _, cells in self.rows), default=0)


@dataclass
class JsonDocument:
    """A parsed JSON submission: the records and the department it declares, if any."""

    records: list[Any]
    department: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode submitted text, detecting the encoding; returns (text, encoding name).

    UTF-8 is tried before GB18030 because valid GB18030 byte sequences are common in UTF-8
    text, while Chinese GBK text is almost never valid UTF-8.
    """
    candidates: tuple[str, ...]
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            _check_mixed_encoding(data)
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            continue  # binary, or UTF-16 without a BOM: not something we can read reliably
        return text, encoding
    raise FileRejected("FILE_ENCODING_UNKNOWN")


def _check_mixed_encoding(data: bytes) -> None:
    """Refuse text that is UTF-8 on some lines and something else (GB18030) on others.

    Decoding such a file as GB18030 "works" and silently turns the UTF-8 lines into mojibake. A line
    counts as UTF-8 when it decodes as UTF-8 and holds CJK text (a GBK line is almost never valid
    UTF-8 *and* CJK). The refusal carries each line decoded in its own encoding, so that the rows
    are quarantined readable.
    """
    utf8_line = other_line = None
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    texts: list[str] = []
    for number, line in enumerate(lines, 1):
        if line.isascii():
            texts.append(line.decode("ascii"))
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            other_line = other_line or number
            try:
                text = line.decode("gb18030")
            except UnicodeDecodeError:
                text = line.decode("utf-8", errors="replace")
        else:
            if utf8_line is None and _CJK.search(text):
                utf8_line = number
        texts.append(text)
    if utf8_line and other_line:
        salvage = _parse_grids("\n".join(texts), "mixed")
        raise FileRejected("FILE_ENCODING_MIXED", grids=salvage, utf8_line=utf8_line, other_line=other_line)


def _open_quote_at_end(text: str, delimiter: str) -> bool:
    """True when the text ends inside a quoted cell (the strict parser's "unexpected end of data")."""
    if text.count('"') % 2 == 0:  # quotes inside quoted cells are doubled: an even count is closed
        return False
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _salvage_narrow(grid: Grid) -> Grid:
    """A too-wide grid cut to its first cells, for the quarantine."""
    rows = []
    for number, cells in grid.rows:
        if len(cells) > SALVAGE_CELLS:
            cells = [*cells[:SALVAGE_CELLS], f"...(+{len(cells) - SALVAGE_CELLS} cells not kept)"]
        rows.append((number, cells))
    return Grid(rows=rows, sheet=grid.sheet, encoding=grid.encoding, delimiter=grid.delimiter)


def _too_wide(grid: Grid) -> FileRejected:
    row, columns = max(((number, len(cells)) for number, cells in grid.rows), key=lambda item: item[1])
    return FileRejected(
        "FILE_TOO_WIDE", grids=[_salvage_narrow(grid)], row=row, columns=columns, limit=MAX_COLUMNS
    )


def _parse_grids(text: str, encoding: str) -> list[Grid]:
    grids = []
    complete = text.endswith(("\n", "\r"))
    for delimiter in CSV_DELIMITERS:
        if delimiter != "," and delimiter not in text:
            continue
        try:
            # csv.reader yields a new list per row: (number, cells) pairs as they come, no copy.
            with paused_gc():
                rows = list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1))
        except csv.Error as exc:
            raise FileRejected("FILE_UNREADABLE", detail=f"CSV: {exc}") from exc
        grid = Grid(rows=rows, encoding=encoding, delimiter=delimiter, complete=complete)
        if rows and _open_quote_at_end(text, delimiter):
            grid.open_quote_row = rows[-1][0]
        grids.append(grid)
    return grids


def read_csv_grids(data: bytes) -> list[Grid]:
    """The CSV parsed with every candidate delimiter; the caller keeps the one whose header it
    recognises (more robust than sniffing a file whose first lines are a title). Readings wider than
    ``MAX_COLUMNS`` are dropped; if every reading is, the file is refused (``FILE_TOO_WIDE``)."""
    text, encoding = decode_text(data)
    grids = _parse_grids(text, encoding)
    narrow = [grid for grid in grids if grid.width <= MAX_COLUMNS]
    if grids and not narrow:
        raise _too_wide(min(grids, key=lambda grid: grid.width))
    return narrow


def check_xlsx_archive(data: bytes, max_unpacked_bytes: int = MAX_XLSX_UNPACKED_BYTES) -> None:
    """Refuse an XLSX that is not a zip, or that would unpack to more than the limit."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRejected("FILE_UNREADABLE", detail=f"not a valid XLSX (zip) file: {exc}") from exc
    if len(members) > MAX_XLSX_MEMBERS:
        raise FileRejected("XLSX_TOO_LARGE_UNPACKED", size=f"{len(members)} members", limit=MAX_XLSX_MEMBERS)
    total = sum(member.file_size for member in members)
    if total > max_unpacked_bytes:
        raise FileRejected("XLSX_TOO_LARGE_UNPACKED", size=total, limit=max_unpacked_bytes)


def _ensure_defused_xml() -> None:
    import openpyxl.xml

    if not openpyxl.xml.DEFUSEDXML:  # pragma: no cover - defusedxml is a declared dependency
        raise RuntimeError("defusedxml is not installed: refusing to parse XLSX files without it")


def _external_links(data: bytes) -> list[str]:
    """The workbooks an XLSX links to (``xl/externalLinks/``): their file names, for the message."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        parts = [name for name in names if name.startswith("xl/externalLinks/") and name.endswith(".xml")]
        targets = []
        for name in names:
            if name.startswith("xl/externalLinks/_rels/") and name.endswith(".rels"):
                xml = archive.read(name).decode("utf-8", errors="replace")
                targets.extend(re.findall(r'Target="([^"]*)"', xml))
    if not parts:
        return []
    labels = [re.split(r"[/\\]", target.rstrip("/\\"))[-1] or target for target in targets]
    return labels or [f"{len(parts)} external link(s)"]


def _has_formulas(data: bytes) -> bool:
    """True when any worksheet holds a formula: an ``f`` element of the spreadsheet namespace,
    found by parsing the XML (defusedxml, streaming), whatever prefix the writer chose (``<f>``,
    ``<x:f>``...)."""
    from defusedxml.ElementTree import iterparse

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as member:
                for event, element in iterparse(member, events=("start", "end")):
                    if event == "end":
                        element.clear()  # keep memory flat on a large sheet
                    elif element.tag == "f" or element.tag.endswith("}f"):
                        return True
    return False


_SIDE_PARTS = re.compile(
    r"^(docProps/[^/]+|xl/comments[^/]*|xl/comments/[^/]+|xl/threadedComments/[^/]+)\.xml$"
)


def _side_texts(data: bytes) -> list[tuple[str, str]]:
    """The text of every comment and document property of a workbook (parsed, defused)."""
    from defusedxml.ElementTree import fromstring

    texts = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if not _SIDE_PARTS.match(name):
                continue
            root = fromstring(archive.read(name))
            text = " ".join(part.strip() for part in root.itertext() if part.strip())
            if text:
                texts.append((name, text))
    return texts


def _sheet_rows(sheet: Any) -> list[tuple[int, list[Any]]]:
    if hasattr(sheet, "reset_dimensions"):
        # Some writers record a wrong used range; read every cell instead of trusting it.
        sheet.reset_dimensions()
    rows = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
        cells = list(values)
        while cells and cells[-1] is None:
            cells.pop()
        rows.append((number, cells))
    return rows


def _formula_text(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("="):
        return value
    text = getattr(value, "text", None)  # openpyxl ArrayFormula / DataTableFormula
    return text if isinstance(text, str) else None


def _mark_uncomputed_formulas(data: bytes, grid: Grid) -> None:
    """Put the formula text into cells that hold a formula without a cached result (openpyxl
    ``data_only`` gives None there): the row is then refused as ``FORMULA_NOT_COMPUTED`` instead
    of looking blank. Formulas are never evaluated."""
    import openpyxl

    assert grid.sheet is not None  # read_xlsx_grid names the sheet it read
    workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
    try:
        sheet = workbook[grid.sheet]
        if hasattr(sheet, "reset_dimensions"):
            sheet.reset_dimensions()
        by_number = dict(grid.rows)
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
            cells = by_number.get(number)
            if cells is None:
                continue
            for index, value in enumerate(values):
                formula = _formula_text(value)
                if formula is None:
                    continue
                while len(cells) <= index:
                    cells.append(None)
                if cells[index] is None:
                    cells[index] = formula
    finally:
        workbook.close()


def read_xlsx_grid(data: bytes, max_unpacked_bytes: int = MAX_XLSX_UNPACKED_BYTES) -> Grid:
    """The data sheet of a workbook: the sheet named 数据 or data, else the first sheet.

    The other sheets are read into ``Grid.others`` (for the personal-data scan only); links to
    other workbooks are listed in ``Grid.external_links`` (the loader refuses such a file).
    """
    check_xlsx_archive(data, max_unpacked_bytes)
    _ensure_defused_xml()
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for corrupt files
        raise FileRejected("FILE_UNREADABLE", detail=f"XLSX: {type(exc).__name__}: {exc}") from exc
    try:
        names = workbook.sheetnames
        if not names:
            raise FileRejected("FILE_UNREADABLE", detail="the workbook has no sheet")
        chosen = next((name for name in names if name.strip().lower() in DATA_SHEET_NAMES), names[0])
        visible = [name for name in names if getattr(workbook[name], "sheet_state", "visible") == "visible"]
        if chosen not in visible and visible:
            # A hidden sheet must not win over the one the clerk sees: refuse, naming both.
            raise FileRejected("XLSX_SHEET_HIDDEN", sheet=chosen, visible=visible[0])
        grid = Grid(rows=_sheet_rows(workbook[chosen]), sheet=chosen)
        grid.others = [Grid(rows=_sheet_rows(workbook[name]), sheet=name) for name in names if name != chosen]
        grid.external_links = _external_links(data)
        grid.side_texts = _side_texts(data)
        if _has_formulas(data):
            _mark_uncomputed_formulas(data, grid)
    except FileRejected:
        raise
    except Exception as exc:
        raise FileRejected("FILE_UNREADABLE", detail=f"XLSX: {type(exc).__name__}: {exc}") from exc
    finally:
        workbook.close()
    if grid.width > MAX_COLUMNS:
        raise _too_wide(grid)
    return grid


def json_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


# A \\uD800-\\uDBFF escape not followed by a \\uDC00-\\uDFFF one, or the second without the first:
# half a character, which no text column can store.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a key given twice is ambiguous, never "the last wins"."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def read_json_document(data: bytes) -> JsonDocument:
    """A JSON submission: ``[{...}, ...]`` or ``{"department": ..., "records": [...]}``."""
    text, _ = decode_text(data)
    if "\\u" in text:
        lone = _LONE_SURROGATE.search(text)
        if lone is not None:
            line = text.count("\n", 0, lone.start()) + 1
            raise FileRejected(
                "JSON_INVALID", detail=f"line {line}: {lone.group()} is half a character (a lone surrogate)"
            )
    try:
        parsed = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise FileRejected(
            "JSON_INVALID", detail=f"the key '{exc.key[:60]}' appears twice in one object: which one counts?"
        ) from exc
    except json.JSONDecodeError as exc:
        raise FileRejected("JSON_INVALID", detail=f"line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except RecursionError as exc:
        raise FileRejected("JSON_TOO_DEEP", limit=MAX_JSON_DEPTH) from exc
    except ValueError as exc:  # e.g. an integer longer than Python's 4,300-digit conversion limit
        raise FileRejected("JSON_INVALID", detail=str(exc)[:200]) from exc
    if isinstance(parsed, list):
        document = JsonDocument(records=parsed)
    elif isinstance(parsed, dict) and isinstance(parsed.get("records"), list):
        department = parsed.get("department")
        extra = {k: v for k, v in parsed.items() if k not in {"department", "records"}}
        document = JsonDocument(
            records=parsed["records"],
            department=str(department).strip()
            if isinstance(department, str | int) and department != ""
            else None,
            extra=extra,
        )
    else:
        raise FileRejected("JSON_SHAPE")
    if json_depth(parsed) > MAX_JSON_DEPTH:
        # Keep every record for the quarantine, the too-deep ones as a placeholder.
        shallow = [
            record if json_depth(record) <= MAX_JSON_DEPTH - 2 else f"(nested deeper than {MAX_JSON_DEPTH})"
            for record in document.records
        ]
        raise FileRejected("JSON_TOO_DEEP", grids=[JsonDocument(records=shallow)], limit=MAX_JSON_DEPTH)
    return document
