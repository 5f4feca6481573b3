"""From cell grids and JSON records to raw records: header location, column aliases, layouts.

Three layouts:
- ``long``: one row per region x measure x period (``region_code``, ``measure_code``, ``period``,
  ``value`` or ``numerator``/``denominator``, ``unit``, ``note``);
- ``wide``: a department's own report form, one row per region and one column per measure,
  described by ``ingest/registry/<department>.json``;
- ``status``: one row per item and period (``item_code``, ``period``, ``status``, ...).

Headers may sit below title rows, in Chinese or English or both ("统计期 period"). A record keeps
the raw cells under their original headers, for the quarantine.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest.readers import Grid, paused_gc
from ingest.values import ValueProblem, is_missing, normalize_text, parse_period, raw_text

REGISTRY_DIR = Path(__file__).resolve().parent / "registry"
HEADER_SCAN_ROWS = 30

# Canonical field -> accepted headers (compared after NFKC, lower-casing and removing spaces).
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "region_code": ("region_code", "行政区划代码", "区划代码", "地区代码", "行政区划编码", "region"),
    "measure_code": ("measure_code", "指标代码", "指标编码", "measure"),
    "period": ("period", "统计期", "统计期间", "报告期", "所属期"),
    "value": ("value", "数值", "指标值", "值"),
    "numerator": ("numerator", "分子"),
    "denominator": ("denominator", "分母"),
    "unit": ("unit", "单位", "计量单位"),
    "note": ("note", "备注", "说明", "remarks", "remark"),
    "item_code": ("item_code", "事项编码", "事项代码", "item"),
    "status": ("status", "状态", "进展状态", "完成状态"),
    "status_date": ("status_date", "日期", "状态日期", "完成日期", "印发日期", "date"),
    "evidence": ("evidence", "佐证", "佐证材料", "文号", "链接"),
    "department": ("department", "department_code", "部门", "报送部门", "报送单位", "部门代码"),
}
# Columns read only for people (names next to codes): recognised, so they help find the header.
INFORMATIONAL = {
    "region_name": ("region_name", "行政区划名称", "地区名称", "地区", "区划名称"),
    "measure_name": ("measure_name", "指标名称"),
    "item_name": ("item_name", "事项名称", "事项"),
}

_SPLIT = re.compile(r"[\s/()\[\]【】|:：,，、]+")


def normalize_header(text: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")).strip().lower())


def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, aliases in {**FIELD_ALIASES, **INFORMATIONAL}.items():
        for alias in aliases:
            index[normalize_header(alias)] = canonical
    return index


ALIAS_INDEX = _alias_index()


def match_header(text: Any) -> str | None:
    """The canonical field a header cell names: exact alias first, then any word of a bilingual
    header such as "统计期 period" or "数值(value)"."""
    if text is None:
        return None
    normalized = normalize_header(text)
    if not normalized:
        return None
    if normalized in ALIAS_INDEX:
        return ALIAS_INDEX[normalized]
    raw = unicodedata.normalize("NFKC", str(text)).strip().lower()
    for token in _SPLIT.split(raw):
        if token and token in ALIAS_INDEX:
            return ALIAS_INDEX[token]
    return None


# --- wide-layout registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class WideColumn:
    """One column of a department's report form: which measure and which part it carries."""

    header: str
    measure_code: str
    part: str  # value / numerator / denominator
    unit: str | None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class WideRegistry:
    department_code: str
    form_title_zh: str
    columns: tuple[WideColumn, ...]

    def lookup(self) -> dict[str, WideColumn]:
        index = {}
        for column in self.columns:
            for name in (column.header, *column.aliases):
                index[normalize_header(name)] = column
        return index


@lru_cache(maxsize=32)
def load_registry(department_code: str, registry_dir: Path = REGISTRY_DIR) -> WideRegistry | None:
    """The wide-layout registry of a department, or None when it has no report form."""
    if not re.fullmatch(r"[a-z0-9_]+", department_code):
        return None  # never build a path from an unvalidated name
    path = registry_dir / f"{department_code}.json"
    if not path.exists():
        return None
    spec = json.loads(path.read_text(encoding="utf-8"))
    columns = tuple(
        WideColumn(
            header=column["header"],
            measure_code=column["measure_code"],
            part=column.get("part", "value"),
            unit=column.get("unit"),
            aliases=tuple(column.get("aliases", ())),
        )
        for column in spec["columns"]
    )
    return WideRegistry(spec["department_code"], spec.get("form_title_zh", ""), columns)


# --- records -------------------------------------------------------------------------------------


@dataclass
class RawRecord:
    """One input record before validation.

    ``values`` maps canonical fields to cells; ``raw`` keeps every non-blank cell under its
    original header (stored in the quarantine as JSON). Wide records carry their measure and unit
    from the registry.
    """

    ref: str
    values: dict[str, Any]
    raw_cells: dict[str, Any] | None = None
    measure_code: str | None = None
    unit: str | None = None
    # For grid rows the raw record is built only when needed (most rows are valid).
    headers: list[Any] | None = None
    cells: list[Any] | None = None
    raw_indexes: list[int] | None = None

    @property
    def raw(self) -> dict[str, Any]:
        if self.raw_cells is None:
            self.raw_cells = _raw_cells(self.headers or [], self.cells or [], self.raw_indexes)
        return self.raw_cells


@dataclass
class Extraction:
    layout: str  # long / wide / status / unknown
    records: list[RawRecord]
    header_found: bool
    title_text: str = ""
    columns: dict[str, int] = field(default_factory=dict)
    # Grids only: the grid read, the header row (1-based number, cells; None when no row named
    # two known columns) and the header cells that name no known column.
    grid: Grid | None = None
    header_row: int | None = None
    header_cells: list[Any] = field(default_factory=list)
    unrecognized: list[str] = field(default_factory=list)
    ambiguous: list[tuple[str, int, int]] = field(default_factory=list)


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def cell_ref(grid: Grid, row_number: int, first: int, last: int | None = None) -> str:
    if grid.sheet is None:
        if last is None:
            return f"row {row_number} col {_column_letter(first)}"
        return f"row {row_number}"
    if last is None or last == first:
        return f"{grid.sheet}!{_column_letter(first)}{row_number}"
    return f"{grid.sheet}!{_column_letter(first)}{row_number}:{_column_letter(last)}{row_number}"


_DIGITS = frozenset("0123456789")


def _is_blank_row(cells: list[Any]) -> bool:
    # Shortcut for the usual data row: a first cell starting with an ASCII digit (a region code)
    # is not missing (no missing marker starts with one, whatever NFKC does to the rest).
    if cells and type(cells[0]) is str and cells[0][:1] in _DIGITS:
        return False
    return all(is_missing(cell) for cell in cells)


@dataclass
class _HeaderChoice:
    position: int  # index into grid.rows
    score: int
    fields: dict[str, int]
    wide: dict[int, WideColumn]
    # A second column naming a field already taken (``ｖａｌｕｅ`` beside ``value``): (field, first
    # column index, second column index). Never dropped silently: the loader refuses the file.
    ambiguous: list[tuple[str, int, int]] = field(default_factory=list)


def _score_header(cells: list[Any], wide_lookup: dict[str, WideColumn]) -> _HeaderChoice:
    fields: dict[str, int] = {}
    wide: dict[int, WideColumn] = {}
    ambiguous: list[tuple[str, int, int]] = []
    for index, cell in enumerate(cells):
        if cell is None or not isinstance(cell, str):
            continue
        wide_column = wide_lookup.get(normalize_header(cell))
        if wide_column is not None:
            wide[index] = wide_column
            continue
        canonical = match_header(cell)
        if canonical is not None and canonical not in fields:
            fields[canonical] = index
        elif canonical is not None:
            ambiguous.append((canonical, fields[canonical], index))
    return _HeaderChoice(-1, len(fields) + len(wide), fields, wide, ambiguous)


def find_header(grid: Grid, registry: WideRegistry | None) -> _HeaderChoice | None:
    """The header row: the row among the first ones that names the most known columns (at least
    two), the earliest on a tie. Rows above it are title rows."""
    wide_lookup = registry.lookup() if registry else {}
    best: _HeaderChoice | None = None
    for position, (_, cells) in enumerate(grid.rows[:HEADER_SCAN_ROWS]):
        choice = _score_header(cells, wide_lookup)
        if choice.score >= 2 and (best is None or choice.score > best.score):
            choice.position = position
            best = choice
    return best


def grid_score(grid: Grid, registry: WideRegistry | None) -> int:
    header = find_header(grid, registry)
    return header.score if header else 0


def _raw_cells(headers: list[Any], cells: list[Any], indexes: list[int] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for index in indexes if indexes is not None else range(len(cells)):
        if index >= len(cells) or cells[index] is None or str(cells[index]).strip() == "":
            continue
        name = normalize_text(headers[index]) if index < len(headers) and headers[index] is not None else ""
        raw[name or _column_letter(index)] = raw_text(cells[index])
    return raw


def extract_grid(grid: Grid, registry: WideRegistry | None) -> Extraction:
    """Locate the header and turn the rows below it into records of the right layout."""
    # One record (and its values dict) per row of a large file: see ``paused_gc`` for why.
    with paused_gc():
        return _extract_grid(grid, registry)


def _extract_grid(grid: Grid, registry: WideRegistry | None) -> Extraction:
    header = find_header(grid, registry)
    if header is None:
        records = [
            RawRecord(ref=cell_ref(grid, number, 0, max(len(cells) - 1, 0)), values={}, cells=cells)
            for number, cells in grid.rows
            if not _is_blank_row(cells)
        ]
        return Extraction("unknown", records, header_found=False, grid=grid)
    header_row, headers = grid.rows[header.position]
    title_text = " ".join(
        normalize_text(cell)
        for _, cells in grid.rows[: header.position]
        for cell in cells
        if cell is not None
    )
    data_rows = [
        (number, cells) for number, cells in grid.rows[header.position + 1 :] if not _is_blank_row(cells)
    ]
    fields = header.fields
    if "item_code" in fields and "status" in fields and "measure_code" not in fields:
        layout = "status"
    elif "measure_code" in fields:
        layout = "long"
    elif header.wide:
        layout = "wide"
    else:
        layout = "unknown"

    if layout == "wide":
        records = _wide_records(grid, headers, data_rows, fields, header.wide)
    else:
        records = _row_records(grid, headers, data_rows, fields)
    known = set(fields.values()) | set(header.wide)
    unrecognized = [
        f"{normalize_text(cell)} ({_column_letter(index)})"
        for index, cell in enumerate(headers)
        if index not in known and not is_missing(cell) and match_header(cell) is None
    ]
    return Extraction(
        layout,
        records,
        header_found=layout != "unknown",
        title_text=title_text,
        columns=fields,
        grid=grid,
        header_row=header_row,
        header_cells=list(headers),
        unrecognized=unrecognized,
        ambiguous=list(header.ambiguous),
    )


def _row_records(
    grid: Grid, headers: list[Any], data_rows: list[tuple[int, list[Any]]], fields: dict[str, int]
) -> list[RawRecord]:
    """One record per data row (long and status layouts)."""
    names = list(fields)
    indexes = list(fields.values())
    reach = max(indexes, default=-1) + 1
    records = []
    for number, cells in data_rows:
        if len(cells) >= reach:
            # Every field's cell exists: the usual row, without a bounds check per field.
            values = dict(zip(names, map(cells.__getitem__, indexes), strict=True))
        else:
            values = {name: cells[index] if index < len(cells) else None for name, index in fields.items()}
        last = max(len(cells), len(headers)) - 1
        # cell_ref of a whole row: "row N" for a CSV, "Sheet!A5:H5" for a sheet.
        ref = f"row {number}" if grid.sheet is None else cell_ref(grid, number, 0, max(last, 0))
        records.append(RawRecord(ref=ref, values=values, headers=headers, cells=cells))
    return records


def _wide_records(
    grid: Grid,
    headers: list[Any],
    data_rows: list[tuple[int, list[Any]]],
    fields: dict[str, int],
    wide: dict[int, WideColumn],
) -> list[RawRecord]:
    """One record per region row and measure: a measure whose cells are all blank in a row was
    not reported there and makes no record."""
    groups: dict[str, list[tuple[int, WideColumn]]] = {}
    for index, column in sorted(wide.items()):
        groups.setdefault(column.measure_code, []).append((index, column))
    key_indexes = [
        index for name, index in fields.items() if name in {"region_code", "period", "department", "note"}
    ]
    records = []
    for number, cells in data_rows:
        shared = {name: cells[index] if index < len(cells) else None for name, index in fields.items()}
        for measure_code, columns in groups.items():
            present = [
                (index, column)
                for index, column in columns
                if index < len(cells) and not is_missing(cells[index])
            ]
            if not present:
                continue
            values = dict(shared)
            unit = None
            for index, column in columns:
                values[column.part] = cells[index] if index < len(cells) else None
                if column.part == "value":
                    unit = column.unit
            first, last = present[0][0], present[-1][0]
            records.append(
                RawRecord(
                    ref=cell_ref(grid, number, first, last if last != first else None),
                    values=values,
                    headers=headers,
                    cells=cells,
                    raw_indexes=key_indexes + [index for index, _ in columns],
                    measure_code=measure_code,
                    unit=unit,
                )
            )
    return records


def extract_json(records: list[Any]) -> Extraction:
    """Records of a JSON submission: keys are matched like headers."""
    out: list[RawRecord] = []
    seen_fields: set[str] = set()
    for index, record in enumerate(records):
        ref = f"records[{index}]"
        if not isinstance(record, dict):
            out.append(
                RawRecord(ref=ref, values={"__not_object__": True}, raw_cells={"record": raw_text(record)})
            )
            continue
        values: dict[str, Any] = {}
        for key, cell in record.items():
            canonical = match_header(key)
            if canonical is not None and canonical not in values:
                values[canonical] = cell
        seen_fields.update(values)
        raw = {
            str(key): cell if isinstance(cell, int | float | str | bool) or cell is None else raw_text(cell)
            for key, cell in record.items()
        }
        out.append(RawRecord(ref=ref, values=values, raw_cells=raw))
    if "item_code" in seen_fields and "status" in seen_fields and "measure_code" not in seen_fields:
        layout = "status"
    elif "measure_code" in seen_fields:
        layout = "long"
    else:
        layout = "unknown"
    return Extraction(layout, out, header_found=layout != "unknown")


# A period in a title, in the spellings ``parse_period`` reads ("2023年度", "2023年第二季度",
# "2023年二季度", "2023年1-6月", "2023年上半年", "2023年6月"); the longest spelling is tried first.
_TITLE_PERIOD = re.compile(
    r"(\d{4})\s*年\s*(?:度|全年|上半年|下半年|前三季度|\d{1,2}\s*月?\s*[-~至到—–]\s*\d{1,2}\s*月"
    r"|第?\s*[1-4一二三四]\s*季度?|第\s*[1-4]|\d{1,2}\s*月)?"
)


def period_from_title(title: str) -> str | None:
    """A period written in a form's title ("2023年第2季度养老服务统计表" -> "2023-Q2"); None when the
    title names none, or only one that ``parse_period`` refuses (a span that is no quarter)."""
    match = _TITLE_PERIOD.search(unicodedata.normalize("NFKC", title))
    if not match:
        return None
    try:
        return parse_period(match.group(0))
    except ValueProblem:
        return None
