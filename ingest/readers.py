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
import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import FileRejected

# Excel sheets holding the data, by preference; otherwise the first sheet.
DATA_SHEET_NAMES = ("数据", "data")
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_XLSX_MEMBERS = 10_000
CSV_DELIMITERS = (",", "\t", ";")

FORMAT_BY_EXTENSION = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
}


@dataclass
class Grid:
    """A sheet of cells: ``rows`` are (1-based row number, cell values) as the clerk sees them."""

    rows: list[tuple[int, list[Any]]]
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None


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
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ("utf-16",)
    else:
        candidates = ("utf-8", "gb18030")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            continue  # binary, or UTF-16 without a BOM: not something we can read reliably
        return text, encoding
    raise FileRejected("FILE_ENCODING_UNKNOWN")


def read_csv_grids(data: bytes) -> list[Grid]:
    """The CSV parsed with every candidate delimiter; the caller keeps the one whose header it
    recognises (more robust than sniffing a file whose first lines are a title)."""
    text, encoding = decode_text(data)
    grids = []
    for delimiter in CSV_DELIMITERS:
        if delimiter != "," and delimiter not in text:
            continue
        try:
            rows = [
                (number, list(cells))
                for number, cells in enumerate(
                    csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1
                )
            ]
        except csv.Error as exc:
            raise FileRejected("FILE_UNREADABLE", detail=f"CSV: {exc}") from exc
        grids.append(Grid(rows=rows, encoding=encoding, delimiter=delimiter))
    return grids


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


def read_xlsx_grid(data: bytes, max_unpacked_bytes: int = MAX_XLSX_UNPACKED_BYTES) -> Grid:
    """The data sheet of a workbook: the sheet named 数据 or data, else the first sheet."""
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
        sheet = workbook[chosen]
        if hasattr(sheet, "reset_dimensions"):
            # Some writers record a wrong used range; read every cell instead of trusting it.
            sheet.reset_dimensions()
        rows = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
            cells = list(values)
            while cells and cells[-1] is None:
                cells.pop()
            rows.append((number, cells))
        return Grid(rows=rows, sheet=chosen)
    except FileRejected:
        raise
    except Exception as exc:
        raise FileRejected("FILE_UNREADABLE", detail=f"XLSX: {type(exc).__name__}: {exc}") from exc
    finally:
        workbook.close()


def read_json_document(data: bytes) -> JsonDocument:
    """A JSON submission: ``[{...}, ...]`` or ``{"department": ..., "records": [...]}``."""
    text, _ = decode_text(data)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileRejected("JSON_INVALID", detail=f"line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if isinstance(parsed, list):
        return JsonDocument(records=parsed)
    if isinstance(parsed, dict) and isinstance(parsed.get("records"), list):
        department = parsed.get("department")
        extra = {k: v for k, v in parsed.items() if k not in {"department", "records"}}
        return JsonDocument(
            records=parsed["records"],
            department=str(department).strip() if department not in (None, "") else None,
            extra=extra,
        )
    raise FileRejected("JSON_SHAPE")
