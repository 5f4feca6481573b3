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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ingest import pii
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
# Columns read for people, and for the region when no code is given (a name beside a code must
# name the same region: ingest/validate.py). Recognised, so they help find the header.
INFORMATIONAL = {
    "region_name": ("region_name", "region name", "行政区划名称", "地区名称", "地区", "区划名称"),
    "measure_name": ("measure_name", "指标名称"),
    "item_name": ("item_name", "事项名称", "事项"),
}

_SPLIT = re.compile(r"[\s/()\[\]【】|:：,，、]+")


def normalize_header(text: Any) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")).strip().lower())


_TRAILING_BRACKETS = re.compile(r"\(([^()]*)\)$")
_UNIT_WORD = re.compile(r"(?:^|[\s,;，；(（])(?:计量)?单位\s*[:：]\s*([^\s,;，；)）]+)")


def bare_header(text: Any) -> str:
    """A header without its trailing bracketed part (normalised): "慈善信托资金规模（亿元）" ->
    "慈善信托资金规模"."""
    return _TRAILING_BRACKETS.sub("", normalize_header(text))


def header_unit(text: Any) -> str | None:
    """The unit a header or a line above the table states: "单位：万元" anywhere, else the first
    word in its trailing brackets ("（人，县级）" -> "人"). None when it states none."""
    if not isinstance(text, str) or not text.strip():
        return None
    normalized = unicodedata.normalize("NFKC", text).strip()
    found = _UNIT_WORD.search(normalized)
    if found:
        return found.group(1)
    bracket = _TRAILING_BRACKETS.search(re.sub(r"\s+", "", normalized))
    if bracket:
        word = re.split(r"[,，、;；]", bracket.group(1))[0].strip()
        return word or None
    return None


def unit_line(cells: list[Any]) -> str | None:
    """The unit of a "单位：万元" line (a cell of a title row above the table), or None. "填报单位："
    (the reporting body) is not a unit."""
    for cell in cells:
        if isinstance(cell, str) and "单位" in cell:
            found = _UNIT_WORD.search(unicodedata.normalize("NFKC", cell).strip())
            if found:
                return found.group(1)
    return None


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

    def bare_lookup(self) -> dict[str, WideColumn]:
        """Headers without their trailing unit in brackets ("慈善信托资金规模" for
        "慈善信托资金规模（亿元）"): a form may state the unit elsewhere (its own brackets with
        another unit, the parent header, a 单位：万元 line above the table)."""
        index: dict[str, WideColumn] = {}
        ambiguous: set[str] = set()
        for column in self.columns:
            for name in (column.header, *column.aliases):
                bare = bare_header(name)
                unstated = bare and bare != normalize_header(name)
                if unstated and index.setdefault(bare, column) is not column:
                    ambiguous.add(bare)  # two columns share it: it names neither
        return {name: column for name, column in index.items() if name not in ambiguous}


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
    # Lines of the form that are not records: total rows and the footer (see ``FormLines``).
    form: FormLines | None = None


@dataclass(frozen=True)
class SkippedLine:
    """A line below the header that is not a record: a total row or a line of the footer.
    ``label`` is the word that made it so (合计, 填报人...), never the line's content."""

    row: int
    kind: str  # total / footer
    label: str


@dataclass
class TotalRow:
    """A total row, its records (read like a region's) and the detail records it should equal."""

    row: int
    label: str
    records: list[RawRecord]
    details: list[RawRecord]


@dataclass
class FormLines:
    """What the form's structure set apart from the records: total rows (checked against their
    details, never stored), the footer (never read beyond whether it held personal data: it is
    dropped) and the unit a 单位 line above the table stated."""

    skipped: list[SkippedLine] = field(default_factory=list)
    totals: list[TotalRow] = field(default_factory=list)
    footer_personal_data: bool = False
    unit_line: str | None = None


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
    position: int  # index into grid.rows of the (last) header row
    score: int
    fields: dict[str, int]
    wide: dict[int, WideColumn]
    # A second column naming a field already taken (``ｖａｌｕｅ`` beside ``value``): (field, first
    # column index, second column index). Never dropped silently: the loader refuses the file.
    ambiguous: list[tuple[str, int, int]] = field(default_factory=list)
    # Header rows: 2 when a row of merged parent cells stands above the child row.
    depth: int = 1
    # The header's cells, a two-row header flattened ("parent/child"); None: the row's own cells.
    cells: list[Any] | None = None
    # Wide value columns whose own header (or its parent) states a unit other than the registry's.
    units: dict[int, str] = field(default_factory=dict)
    # Wide columns whose header states no unit at all: a 单位 line above the table applies to them.
    unitless: set[int] = field(default_factory=set)


def _score_columns(
    names: list[tuple[Any, ...]],
    wide_lookup: dict[str, WideColumn],
    bare_lookup: dict[str, WideColumn],
    parents: list[Any] | None = None,
) -> _HeaderChoice:
    """Match each column's names (the first that means something wins): a registered header, the
    same header with the unit stated otherwise, or a field."""
    fields: dict[str, int] = {}
    wide: dict[int, WideColumn] = {}
    ambiguous: list[tuple[str, int, int]] = []
    units: dict[int, str] = {}
    unitless: set[int] = set()
    for index, candidates in enumerate(names):
        for name in candidates:
            if name is None or not isinstance(name, str):
                continue
            wide_column = wide_lookup.get(normalize_header(name))
            if wide_column is not None:
                wide[index] = wide_column
                if header_unit(name) is None and header_unit(wide_column.header) is None:
                    unitless.add(index)
                break
            if bare_lookup:
                wide_column = bare_lookup.get(bare_header(name))
                if wide_column is not None:
                    wide[index] = wide_column
                    parent = parents[index] if parents and index < len(parents) else None
                    stated = header_unit(name) or header_unit(parent)
                    if stated is not None:
                        units[index] = stated
                    else:
                        unitless.add(index)
                    break
            canonical = match_header(name)
            if canonical is not None and canonical not in fields:
                fields[canonical] = index
                break
            if canonical is not None:
                ambiguous.append((canonical, fields[canonical], index))
                break
    return _HeaderChoice(-1, len(fields) + len(wide), fields, wide, ambiguous, units=units, unitless=unitless)


def _header_text(cell: Any) -> str | None:
    return cell if isinstance(cell, str) and cell.strip() else None


def _merged_names(
    parent_row: list[Any], child_row: list[Any]
) -> tuple[list[tuple[Any, ...]], list[Any], list[Any]]:
    """A two-row header flattened: per column the names to try (parent and child joined, the
    child, the parent), the display text ("parent/child") and the parent.

    A merged cell keeps its text in its first cell only (the others read as blank): a parent spans
    the blank cells to its right as long as there is a child header below them; a column with a
    parent and no child is a cell merged across both rows."""
    names: list[tuple[Any, ...]] = []
    display: list[Any] = []
    parents: list[Any] = []
    carry: str | None = None
    for index in range(max(len(parent_row), len(child_row))):
        parent = _header_text(parent_row[index]) if index < len(parent_row) else None
        child = _header_text(child_row[index]) if index < len(child_row) else None
        if parent is not None:
            carry = parent
        elif child is None:
            carry = None
        above = parent if parent is not None else (carry if child is not None else None)
        parents.append(above)
        if above is not None and child is not None:
            names.append((above.strip() + child.strip(), child, above))
            display.append(f"{above.strip()}/{child.strip()}")
        else:
            names.append((child if child is not None else above,))
            display.append(child if child is not None else above)
    return names, display, parents


def _score_header(
    cells: list[Any], wide_lookup: dict[str, WideColumn], bare_lookup: dict[str, WideColumn] | None = None
) -> _HeaderChoice:
    return _score_columns([(cell,) for cell in cells], wide_lookup, bare_lookup or {})


def find_header(grid: Grid, registry: WideRegistry | None) -> _HeaderChoice | None:
    """The header: the row among the first ones that names the most known columns (at least two),
    the earliest on a tie; or two rows, a row of merged parent cells above the child row, when
    flattened (parent and child joined) they name more columns than either row alone. Rows above
    it are title rows."""
    wide_lookup = registry.lookup() if registry else {}
    bare_lookup = registry.bare_lookup() if registry else {}
    rows = grid.rows[:HEADER_SCAN_ROWS]
    singles = [_score_header(cells, wide_lookup, bare_lookup) for _, cells in rows]
    best: _HeaderChoice | None = None
    for position, choice in enumerate(singles):
        choice.position = position
        candidates = [choice]
        if position + 1 < len(rows) and (choice.score or singles[position + 1].score):
            names, display, parents = _merged_names(rows[position][1], rows[position + 1][1])
            merged = _score_columns(names, wide_lookup, bare_lookup, parents)
            if merged.score > max(choice.score, singles[position + 1].score):
                merged.position, merged.depth, merged.cells = position + 1, 2, display
                candidates.append(merged)
        for candidate in candidates:
            if candidate.score >= 2 and (best is None or candidate.score > best.score):
                best = candidate
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


# Below the header, a line whose first filled cell starts with one of these ends the table: the
# footer (signatures, contacts, notes). Compared after NFKC with spaces removed.
_FOOTER = re.compile(
    r"(填报人|填表人|制表人|统计人|审核人|审批人|负责人|单位负责人|统计负责人|联系人|联系电话|电话|手机"
    r"|填报日期|填表日期|报送日期|制表日期|填报单位|注\d*[:：.、]|注$|说明|备注[:：])"
)
# A total row: its label (the region cells or the first cell) says 合计, 总计, 小计, 全市 or 全省.
_TOTAL = re.compile(r"(?:全市|全省|全县|全区|本市|本县)?(?:合计|总计|小计)|全市|全省")
_DIGIT_START = tuple("0123456789")


def _first_filled(cells: list[Any]) -> Any:
    for cell in cells:
        if cell is not None and not (isinstance(cell, str) and not cell.strip()):
            return cell
    return None


def _footer_label(cells: list[Any]) -> str | None:
    """The footer word a row starts with, or None for a row of the table."""
    first = _first_filled(cells)
    if not isinstance(first, str) or first.startswith(_DIGIT_START):
        return None
    found = _FOOTER.match(re.sub(r"\s+", "", unicodedata.normalize("NFKC", first)))
    return found.group(1).rstrip(":：.、") if found else None


def _total_label(cells: list[Any], label_indexes: list[int]) -> str | None:
    """合计, 小计... when the row is a total row, else None."""
    for index in label_indexes:
        cell = cells[index] if index < len(cells) else None
        if not isinstance(cell, str) or not cell or cell.startswith(_DIGIT_START):
            continue
        text = _TRAILING_BRACKETS.sub("", re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell)))
        if _TOTAL.fullmatch(text):
            return text
    return None


def form_labels(fields: dict[str, int]) -> tuple[list[int], list[int]]:
    """The cells that may name a total row (the first, the region code's and the region name's),
    and the cells a footer line leaves blank (a measure or item code: a line naming one is a row
    of the table, whatever its first cell says)."""
    labels = sorted({0, *(index for name, index in fields.items() if name in {"region_code", "region_name"})})
    keys = [index for name, index in fields.items() if name in {"measure_code", "item_code"}]
    return labels, keys


def _footer_line(cells: list[Any], keys: list[int]) -> str | None:
    first = cells[0] if cells else None
    if type(first) is str and first[:1] in _DIGITS:
        return None  # the usual row: a region code first
    label = _footer_label(cells)
    if label is None or any(index < len(cells) and not is_missing(cells[index]) for index in keys):
        return None
    return label


def is_form_line(cells: list[Any], fields: dict[str, int]) -> bool:
    """True for a total row or a footer line (see ``_split_form``)."""
    labels, keys = form_labels(fields)
    return _footer_line(cells, keys) is not None or _total_label(cells, labels) is not None


def _split_form(
    data_rows: list[tuple[int, list[Any]]], fields: dict[str, int]
) -> tuple[list[tuple[int, list[Any]]], list[tuple[int, str, list[Any]]], list[tuple[int, str]], bool]:
    """The table's rows, its total rows (number, label, cells), the footer's lines (number, label)
    and whether the footer holds personal data. The footer starts at the first line that starts
    with a footer word (填报人, 联系电话, 注：...) and names no measure or item, and runs to the end."""
    label_indexes, keys = form_labels(fields)
    table: list[tuple[int, list[Any]]] = []
    totals: list[tuple[int, str, list[Any]]] = []
    footer: list[tuple[int, str]] = []
    personal = False
    for position, (number, cells) in enumerate(data_rows):
        label = _footer_line(cells, keys)
        if label is not None:
            for offset, (line, line_cells) in enumerate(data_rows[position:]):
                footer.append((line, label if offset == 0 else "footer"))
                texts = [normalize_text(cell) for cell in line_cells if cell is not None]
                personal = personal or any(pii.find_in_text(text) for text in texts)
            break
        total = _total_label(cells, label_indexes)
        if total is not None:
            totals.append((number, total, cells))
        else:
            table.append((number, cells))
    return table, totals, footer, personal


def _extract_grid(grid: Grid, registry: WideRegistry | None) -> Extraction:
    header = find_header(grid, registry)
    if header is None:
        records = [
            RawRecord(ref=cell_ref(grid, number, 0, max(len(cells) - 1, 0)), values={}, cells=cells)
            for number, cells in grid.rows
            if not _is_blank_row(cells)
        ]
        return Extraction("unknown", records, header_found=False, grid=grid)
    header_row, row_cells = grid.rows[header.position]
    headers = header.cells if header.cells is not None else row_cells
    title_rows = grid.rows[: header.position - header.depth + 1]
    title_text = " ".join(
        normalize_text(cell) for _, cells in title_rows for cell in cells if cell is not None
    )
    data_rows = [
        (number, cells) for number, cells in grid.rows[header.position + 1 :] if not _is_blank_row(cells)
    ]
    fields = header.fields
    data_rows, total_rows, footer_lines, footer_personal = _split_form(data_rows, fields)
    form = None
    stated_unit = next((unit for _, cells in title_rows if (unit := unit_line(cells))), None)
    if total_rows or footer_lines or stated_unit:
        form = FormLines(footer_personal_data=footer_personal, unit_line=stated_unit)
        skipped = [SkippedLine(number, "total", label) for number, label, _ in total_rows]
        skipped += [SkippedLine(number, "footer", label) for number, label in footer_lines]
        form.skipped = sorted(skipped, key=lambda line: line.row)
        if footer_lines:
            # The footer is dropped before anything else reads the grid (the personal-data scan,
            # the quarantine): its text is never stored, whatever it holds.
            dropped = {number for number, _ in footer_lines}
            grid = replace(
                grid, rows=[(number, cells) for number, cells in grid.rows if number not in dropped]
            )
    if "item_code" in fields and "status" in fields and "measure_code" not in fields:
        layout = "status"
    elif "measure_code" in fields:
        layout = "long"
    elif header.wide:
        layout = "wide"
    else:
        layout = "unknown"

    units = dict(header.units)
    if stated_unit is not None:
        units.update(dict.fromkeys(header.unitless, stated_unit))

    def build(rows: list[tuple[int, list[Any]]]) -> list[RawRecord]:
        if layout == "wide":
            return _wide_records(grid, headers, rows, fields, header.wide, units)
        built = _row_records(grid, headers, rows, fields)
        if stated_unit is not None and layout == "long":
            for record in built:
                record.unit = stated_unit  # for rows whose unit cell is blank
        return built

    records = build(data_rows)
    if form is not None and total_rows:
        form.totals = _total_groups(total_rows, data_rows, records, build)
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
        form=form,
    )


def _total_groups(
    total_rows: list[tuple[int, str, list[Any]]],
    data_rows: list[tuple[int, list[Any]]],
    records: list[RawRecord],
    build: Callable[[list[tuple[int, list[Any]]]], list[RawRecord]],
) -> list[TotalRow]:
    """Each total row with the details it sums: a 小计 the rows since the previous total row, any
    other total (合计, 总计, 全市, 全省) every detail row of the table."""
    groups = []
    previous = 0
    for number, label, cells in total_rows:
        if label.endswith("小计"):
            details = build([(n, c) for n, c in data_rows if previous < n < number])
        else:
            details = records
        groups.append(TotalRow(number, label, build([(number, cells)]), details))
        previous = number
    return groups


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
    units: dict[int, str] | None = None,
) -> list[RawRecord]:
    """One record per region row and measure: a measure whose cells are all blank in a row was
    not reported there and makes no record. ``units``: value columns whose unit the form states
    (its header, the parent header or a 单位 line) rather than the registry."""
    units = units or {}
    groups: dict[str, list[tuple[int, WideColumn]]] = {}
    for index, column in sorted(wide.items()):
        groups.setdefault(column.measure_code, []).append((index, column))
    key_indexes = [
        index
        for name, index in fields.items()
        if name in {"region_code", "region_name", "period", "department", "note"}
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
                    unit = units.get(index, column.unit)
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
