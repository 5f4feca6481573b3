"""The publication workbook 评价工作簿: one Excel file per publication, for officials.

``write_workbook(snapshot, out_path)`` reads the published snapshot (read-only) and writes:

- ``说明 About``: what the publication is and what each sheet holds;
- first, for print, the latest judged year of the province and the cities: per zone its
  indicators and its index, and the alerts;
- per zone, ``<领域> <code>`` (e.g. ``精准保障 PP``): indicator progress, one row per
  measure x region x year, from ``marts.fct_indicator_progress``: the province and the cities
  every year, the counties from the latest judged year on;
- per zone, ``<领域>指数 <code>`` (e.g. ``精准保障指数 PP``): the composite index table, one row per
  region x year (every level and year), with the score of every dimension, from
  ``marts.fct_index_<zone>``;
- ``预警 Alerts``: the rows of ``marts.fct_alerts``, as the progress sheets (province, cities and
  alerts about no region every year; counties from the latest judged year on).

What an official reads in a spreadsheet is the province, the cities and the counties' current
standing; the full history of every county (at national size ~725,000 indicator rows, which took
most of publication's minutes) is in the release's Parquet files and the snapshot, for BI tools.

Headers are two frozen rows (Chinese, then English), numbers keep their number formats (``0.0``,
``0.0%``, ``#,##0.00``), columns have widths and an auto-filter. Every text cell that a
spreadsheet could take for a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) is written with a leading apostrophe, so a hostile region name or alert message can never
run as a formula (CSV/formula injection).

The workbook is written with XlsxWriter in ``constant_memory`` mode (rows streamed to disk as
they are written, text as in-line strings), with one cell format per style and number format
shared by every cell that uses it (not a styled object per cell: openpyxl's write-only cells
took ~140 s for a township-size warehouse). Text is written only as text: XlsxWriter's own
conversions of strings to formulas, links or numbers are switched off. Carriage returns are
written as line feeds (as every XML reader took them before); other control characters, which
openpyxl refused, are kept in OOXML's ``_xHHHH_`` escape. The file is written aside
and moved into place at the end, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from xlsxwriter.utility import _preserve_whitespace, xl_col_to_name
from xlsxwriter.xmlwriter import XMLwriter

from reports.formatting import (
    ALERT_KIND,
    LEVEL,
    SEVERITY,
    STATUS_BASIS,
    TRAJECTORY_STATUS,
    YEAR_STATUS,
    beijing_time,
    label,
)
from reports.queries import (
    Zone,
    connect_snapshot,
    fetch_dicts,
    has_table,
    load_zones,
    quote_ident,
    table_columns,
)

if TYPE_CHECKING:
    import duckdb
    from xlsxwriter.format import Format
    from xlsxwriter.workbook import Workbook
    from xlsxwriter.worksheet import Worksheet

WORKBOOK_NAME = "scorecards.xlsx"
#: Characters that make a spreadsheet treat a text cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ALERTS_SHEET = "预警 Alerts"
ABOUT_SHEET = "说明 About"
HEADER_ROWS = 2
INVALID_SHEET_CHARS = str.maketrans({c: " " for c in "[]:*?/\\"})

FMT_VALUE = "#,##0.00"
FMT_PERCENT = "0.0%"
FMT_SCORE = "0.0"
FMT_INTEGER = "0"
FMT_COUNT = "#,##0"


def escape_text(value: str) -> str:
    """``value`` made safe for a spreadsheet cell: a leading apostrophe when it could be a formula."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def cell_value(value: Any) -> Any:
    """A Python value as a cell value: text escaped, NaN and infinities empty, others unchanged."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sheet_title(text: str) -> str:
    """A valid, at most 31-character worksheet title."""
    return " ".join(text.translate(INVALID_SHEET_CHARS).split())[:31]


def bilingual(vocabulary: dict[str, tuple[str, str]]) -> Callable[[Any], Any]:
    """A converter from a status code to "中文 English" (unknown codes kept as they are)."""

    def convert(code: Any) -> Any:
        if code is None:
            return None
        zh, en = label(vocabulary, str(code))
        return f"{zh} {en}"

    return convert


def percent(value: Any) -> Any:
    """A percentage value (0-100) as a fraction for a ``0.0%`` cell."""
    return None if value is None else value / 100.0


@dataclass(frozen=True)
class Column:
    """One column of a sheet: where its value comes from and how it looks."""

    zh: str
    en: str
    key: str
    width: float = 12.0
    number_format: str | None = None
    convert: Callable[[Any], Any] | None = None
    #: a row's own number format, when it must differ from ``number_format`` (see
    #: :func:`value_format` and :func:`attainment_format`); None: the column's
    row_format: Callable[[dict[str, Any]], str | None] | None = None

    def value(self, row: dict[str, Any]) -> Any:
        raw = row.get(self.key)
        return cell_value(self.convert(raw) if self.convert else raw)


#: Measures counted in whole units (个, 个（地区）): shown without decimals.
COUNT_KINDS = frozenset({"count", "regions_meeting"})


def value_format(row: dict[str, Any]) -> str | None:
    """Counts without decimals ("18 个", not "18.00 个"); everything else with two."""
    return FMT_COUNT if row.get("measure_kind") in COUNT_KINDS else None


def _decimals_for_verdict(pct: float, judged_below: bool) -> str | None:
    """The percent format that keeps a figure on its verdict's side of 100 %: a target missed at
    99.96 % reads "99.96%", never "100.0%"; a figure that rounds there anyway gets more decimals."""
    if not judged_below or pct >= 100 or round(pct, 1) < 100:
        return None
    for decimals in (2, 3, 4, 5, 6):
        if round(pct, decimals) < 100:
            return "0." + "0" * decimals + "%"
    return "0.000000%"


def attainment_format(row: dict[str, Any]) -> str | None:
    pct = row.get("attainment_pct")
    if pct is None or not math.isfinite(pct):
        return None
    return _decimals_for_verdict(pct, row.get("year_status") == "not_met")


def projected_format(row: dict[str, Any]) -> str | None:
    pct = row.get("projected_attainment_pct")
    if pct is None or not math.isfinite(pct):
        return None
    return _decimals_for_verdict(pct, row.get("trajectory_status") in {"off_track", "at_risk"})


PROGRESS_COLUMNS: tuple[Column, ...] = (
    Column("指标代码", "Measure code", "measure_code", 10),
    Column("指标名称", "Indicator", "measure_name_zh", 34),
    Column("指标（英文）", "Indicator (English)", "measure_name_en", 40),
    Column("地区代码", "Region code", "region_code", 10),
    Column("地区", "Region", "region_name_zh", 18),
    Column("地区（英文）", "Region (English)", "region_name_en", 24),
    Column("层级", "Level", "region_level", 12, None, bilingual(LEVEL)),
    Column("年度", "Year", "year", 7, FMT_INTEGER),
    Column("实际值", "Actual", "actual_value", 13, FMT_VALUE, row_format=value_format),
    Column("目标值", "Target", "target_value", 13, FMT_VALUE, row_format=value_format),
    Column("单位", "Unit", "unit_zh", 14),
    Column("完成率", "Attainment", "attainment_pct", 11, FMT_PERCENT, percent, attainment_format),
    Column("年度状态", "Year status", "year_status", 14, None, bilingual(YEAR_STATUS)),
    Column("状态依据", "Status basis", "status_basis", 14, None, bilingual(STATUS_BASIS)),
    Column("期末目标值", "End-of-plan target", "final_target_value", 13, FMT_VALUE, row_format=value_format),
    Column(
        "预计期末值", "Projected end value", "projected_final_value", 13, FMT_VALUE, row_format=value_format
    ),
    Column(
        "预计期末完成率",
        "Projected attainment",
        "projected_attainment_pct",
        13,
        FMT_PERCENT,
        percent,
        projected_format,
    ),
    Column("进度判断", "Trajectory", "trajectory_status", 16, None, bilingual(TRAJECTORY_STATUS)),
)

INDEX_COLUMNS: tuple[Column, ...] = (
    Column("地区代码", "Region code", "region_code", 10),
    Column("地区", "Region", "region_name_zh", 18),
    Column("地区（英文）", "Region (English)", "region_name_en", 24),
    Column("层级", "Level", "region_level", 12, None, bilingual(LEVEL)),
    Column("所属地市", "City", "city_name_zh", 10),
    Column("年度", "Year", "year", 7, FMT_INTEGER),
    Column("指数", "Index", "index_score", 9, FMT_SCORE),
    Column("排名", "Rank", "rank_in_level", 7, FMT_INTEGER),
    Column("名次区间下限（5%）", "Rank p05", "rank_p05", 10, FMT_INTEGER),
    Column("名次中位数", "Rank median", "rank_median", 10, FMT_INTEGER),
    Column("名次区间上限（95%）", "Rank p95", "rank_p95", 10, FMT_INTEGER),
    Column("变动最大的两个维度", "Top two movers", "top_movers", 40),
    Column("参评地区数", "Regions ranked", "regions_ranked", 10, FMT_INTEGER),
    Column("数据覆盖率", "Coverage", "coverage_pct", 10, FMT_PERCENT, percent),
    Column("已评维度", "Dimensions scored", "dimensions_scored", 10, FMT_INTEGER),
)
#: Columns of an index fact table that are not dimension scores.
INDEX_FIXED = {
    "zone_code",
    "region_code",
    "region_name_zh",
    "region_name_en",
    "region_level",
    "city_code",
    "period",
    "year",
    "index_score",
    "coverage_pct",
    "rank_in_level",
    "rank_median",
    "rank_p05",
    "rank_p95",
    "regions_ranked",
    "dimensions_scored",
    "dimension_count",
}

ALERT_COLUMNS: tuple[Column, ...] = (
    Column("级别", "Severity", "severity", 10, None, bilingual(SEVERITY)),
    Column("类型", "Kind", "alert_kind", 20, None, bilingual(ALERT_KIND)),
    Column("期间", "Period", "period", 9),
    Column("指标代码", "Measure code", "measure_code", 10),
    Column("指标名称", "Indicator", "measure_name_zh", 30),
    Column("地区代码", "Region code", "region_code", 10),
    Column("地区", "Region", "region_name_zh", 16),
    Column("报送处室", "Division", "department_name_zh", 18),
    Column("实际值", "Actual", "actual_value", 12, FMT_VALUE, row_format=value_format),
    Column("目标值", "Target", "target_value", 12, FMT_VALUE, row_format=value_format),
    Column("完成率", "Attainment", "attainment_pct", 10, FMT_PERCENT, percent),
    Column("预警内容", "Message", "message_zh", 70),
    Column("预警内容（英文）", "Message (English)", "message_en", 70),
    Column("预警编号", "Alert id", "alert_id", 34),
)  # fmt: skip


def _pick(columns: Sequence[Column], keys: Sequence[str]) -> tuple[Column, ...]:
    by_key = {c.key: c for c in columns}
    return tuple(by_key[k] for k in keys)


#: The printed (latest-year) sheets: what an official reads on paper, in fewer columns; the
#: history sheets hold every column and every year.
PRINT_PROGRESS_COLUMNS = _pick(
    PROGRESS_COLUMNS,
    ("measure_code", "measure_name_zh", "region_name_zh", "region_level", "actual_value", "target_value",
     "unit_zh", "attainment_pct", "year_status", "projected_attainment_pct", "trajectory_status"),
)  # fmt: skip
PRINT_ALERT_COLUMNS = _pick(
    ALERT_COLUMNS,
    ("severity", "alert_kind", "period", "measure_code", "region_name_zh", "department_name_zh",
     "attainment_pct", "message_zh"),
)  # fmt: skip
#: Region levels of the printed progress and alert sheets (counties: the history sheets).
PRINT_LEVELS = ("province", "city")

LEVEL_ORDER = "case region_level when 'province' then 0 when 'city' then 1 when 'county' then 2 else 3 end"


# --- writing ------------------------------------------------------------------------------------

#: Header colours (fill of the Chinese row, fill of the English row, English text).
ZH_FILL, EN_FILL, EN_COLOR = "#DCE6F1", "#EEF3F8", "#555555"
#: Number formats of date and time values (openpyxl's defaults; the marts carry none today).
FMT_DATETIME, FMT_DATE, FMT_TIME = "yyyy-mm-dd h:mm:ss", "yyyy-mm-dd", "h:mm:ss"
#: Workbook options: strings are written as strings only (the escaping above is the defence,
#: these make sure XlsxWriter adds no formula, link or number of its own), rows are streamed.
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "remove_timezone": True,
}


class Styles:
    """The workbook's cell formats, each created once and shared by every cell that uses it."""

    @classmethod
    def of(cls, workbook: Workbook) -> Styles:
        """The styles of ``workbook`` (created on first use, then the same object)."""
        styles = _STYLES.get(workbook)
        if styles is None:
            styles = _STYLES[workbook] = cls(workbook)
        return styles

    def __init__(self, workbook: Workbook) -> None:
        self.workbook = workbook
        self.header_zh = workbook.add_format(
            {"bold": True, "pattern": 1, "bg_color": ZH_FILL, "valign": "vcenter"}
        )
        self.header_en = workbook.add_format(
            {"italic": True, "font_color": EN_COLOR, "pattern": 1, "bg_color": EN_FILL}
        )
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        # red / amber / green as in the report's badges (.badge.bad / .warn / .ok)
        self.bad = workbook.add_format({"bg_color": "#FBE3E1", "font_color": "#9B2920"})
        self.warn = workbook.add_format({"bg_color": "#FDF0D5", "font_color": "#8A5A06"})
        self.ok = workbook.add_format({"bg_color": "#E2F3E7", "font_color": "#1F6D33"})
        self.bold = workbook.add_format({"bold": True})
        self._numbers: dict[str, Format] = {}

    def number(self, number_format: str | None) -> Format | None:
        """The format of a number format string (``None`` for none), created on first use."""
        if number_format is None:
            return None
        fmt = self._numbers.get(number_format)
        if fmt is None:
            fmt = self._numbers[number_format] = self.workbook.add_format({"num_format": number_format})
        return fmt


_STYLES: weakref.WeakKeyDictionary[Workbook, Styles] = weakref.WeakKeyDictionary()


def new_workbook(target: str | Path | BinaryIO) -> Workbook:
    """An XlsxWriter workbook writing to ``target`` with ``WORKBOOK_OPTIONS`` (closed by the caller)."""
    import xlsxwriter

    return xlsxwriter.Workbook(target if not isinstance(target, Path) else str(target), WORKBOOK_OPTIONS)


def line_ends(text: str) -> str:
    """``text`` with carriage returns as line feeds, as any XML reader takes them.

    XlsxWriter would keep a carriage return as ``_x000D_`` (which Excel decodes, openpyxl does not);
    the workbook has always shown it as a line feed, so that is written.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def write_cell(sheet: Worksheet, styles: Styles, row: int, col: int, value: Any, fmt: Format | None) -> None:
    """Write one (already converted) cell value by its type; ``fmt`` applies to numbers.

    Text is always written as text (never as a formula, link or number), ``None`` leaves the cell
    empty, booleans stay booleans, dates and times get a date format, anything else is written
    as its (escaped) text.
    """
    if value is None:
        return
    if isinstance(value, str):
        sheet.write_string(row, col, line_ends(value))
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int):
        sheet.write_number(row, col, value, fmt)
    elif isinstance(value, (float, Decimal)):
        if math.isfinite(value):  # NaN and infinities stay empty, as in ``cell_value``
            sheet.write_number(row, col, float(value), fmt)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, styles.number(FMT_DATETIME))
    elif isinstance(value, date):
        sheet.write_datetime(row, col, value, styles.number(FMT_DATE))
    elif isinstance(value, time):
        sheet.write_datetime(row, col, value, styles.number(FMT_TIME))
    else:
        sheet.write_string(row, col, line_ends(escape_text(str(value))))


def unique_title(workbook: Workbook, text: str) -> str:
    """``sheet_title(text)``, with a number added when the workbook has a sheet of that name."""
    title = sheet_title(text)
    taken = {name.lower() for name in workbook.sheetnames}
    n = 1
    candidate = title
    while candidate.lower() in taken:
        suffix = str(n)
        candidate = title[: 31 - len(suffix)] + suffix
        n += 1
    return candidate


#: Texts longer than this may be cut by XlsxWriter (at 32,767 UTF-16 units): written through it.
_FAST_TEXT_MAX = 16_383
#: What XlsxWriter escapes in an in-line string: XML's ``&<>``, control characters (``_xHHHH_``),
#: a literal ``_xHHHH_`` (its underscore escaped) and the two non-characters.
_XML_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")


_XML_WRITER = XMLwriter()
#: Distinct texts whose cells are kept per column of a sheet (bounds memory: alert messages are
#: all different; codes, names and labels are few).
_TEXTS_KEPT = 4096
#: What :func:`_text_tail` returns for a text XlsxWriter must write itself, and for a value that
#: converts to no text (a number, a date: written as such).
_NOT_FAST, _NOT_TEXT = "\0not fast", "\0not text"
#: Anything in a text that needs more than copying it into the cell: a formula trigger first,
#: a carriage return, what XlsxWriter escapes (XML's ``&<>``, control characters, a literal
#: ``_xHHHH_``, two non-characters), white space at either end (``xml:space``).
_TEXT_SPECIAL = re.compile(r"^[=+\-@\s]|[\r&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_|\s$")


def _text_tail(value: Any) -> str:
    """The XML of a text cell after its reference (``<c r="A3"`` + this), as XlsxWriter writes an
    in-line string; "" for no value, ``_NOT_TEXT`` for a value that is not text, ``_NOT_FAST``
    when XlsxWriter must write it (a text it would cut, or take for rich text)."""
    if value is None:
        return ""
    if value.__class__ is not str:
        return _NOT_TEXT
    text: str = value
    space = ""
    if _TEXT_SPECIAL.search(text):
        text = line_ends(escape_text(text))
        if text.startswith("<r>") and text.endswith("</r>"):
            return _NOT_FAST
        if _XML_SPECIAL.search(text):
            text = _xml_text(text)
        if _preserve_whitespace(text):
            space = ' xml:space="preserve"'
    if len(text) > _FAST_TEXT_MAX:
        return _NOT_FAST
    return f' t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _xml_text(text: str) -> str:
    """``text`` escaped as XlsxWriter escapes an in-line string (its own two steps, in order)."""
    return _XML_WRITER._escape_data(_XML_WRITER._escape_control_characters(text))


class SheetWriter:
    """Writes one streaming sheet: two header rows, frozen, widths, filter, formatted cells.

    Every format comes from ``Styles`` (one per style and number format, not one per cell); the
    rows are streamed to disk as they are written (XlsxWriter's ``constant_memory`` mode).
    """

    def __init__(
        self, workbook: Workbook, title: str, columns: Sequence[Column], styles: Styles | None = None
    ) -> None:
        self.sheet: Worksheet = workbook.add_worksheet(unique_title(workbook, title))
        self.styles = styles = styles or Styles.of(workbook)
        self.columns = list(columns)
        self.rows = 0
        for i, column in enumerate(self.columns):
            self.sheet.set_column(i, i, column_width(column))
        self.sheet.freeze_panes(HEADER_ROWS, 0)
        self._plan = [
            (i, column.key, column.convert, styles.number(column.number_format))
            for i, column in enumerate(self.columns)
        ]
        self._row_formats = [
            (i, column.row_format, column.number_format)
            for i, column in enumerate(self.columns)
            if column.row_format is not None
        ]
        # Data rows go straight into the sheet's row file as the XML XlsxWriter itself writes
        # (``append``); XlsxWriter's per-cell calls cost ~30 us a cell, ~7 of the national
        # workbook's ~8 minutes under load. Only in constant_memory mode, where rows are final.
        self._fast = bool(self.sheet.constant_memory)
        self._refs = [xl_col_to_name(i) for i in range(len(self.columns))]
        self._texts: list[dict[str, str]] = [{} for _ in self.columns]
        self._style_attrs: dict[Format | None, str] = {}
        self._header()

    def _header(self) -> None:
        # row by row: in constant_memory mode a row is final once a later row is written
        for i, column in enumerate(self.columns):
            self.sheet.write_string(0, i, line_ends(cell_value(column.zh)), self.styles.header_zh)
        for i, column in enumerate(self.columns):
            self.sheet.write_string(1, i, line_ends(cell_value(column.en)), self.styles.header_en)

    def append(self, row: dict[str, Any]) -> None:
        """Write one data row (values by column key).

        The cells are those of :meth:`append_via_xlsxwriter` (``write_cell(..., column.value(row),
        ...)`` for every column), written as the very XML XlsxWriter writes for them (a test
        compares the two byte for byte): in-line strings with its escapes, numbers as ``%.16G``
        with the index of their format. A row holding anything else (a date, a boolean, a text
        long enough to be cut, a text XlsxWriter would take for rich text) goes through
        :meth:`append_via_xlsxwriter`.
        """
        if not self._fast:
            self.append_via_xlsxwriter(row)
            return
        r = HEADER_ROWS + self.rows
        n = r + 1
        sheet = self.sheet
        # XlsxWriter's own bookkeeping for row r, first (it numbers formats as it meets them):
        # the row before (the headers, or a row of append_via_xlsxwriter) is flushed, then r is
        # the sheet's current row.
        sheet._write_single_row(r)
        own: dict[int, Format | None] = {}
        for i, row_format, default in self._row_formats:
            chosen = row_format(row)
            if chosen is not None and chosen != default:
                own[i] = self.styles.number(chosen)
        cells: list[str] = []
        first = last = -1
        for (i, key, convert, fmt), ref, texts in zip(self._plan, self._refs, self._texts, strict=True):
            value = row.get(key)
            if value is None:
                continue
            if value.__class__ is str:
                # A text's cell, after its reference, depends on the text alone: kept per column
                # (codes, names and labels repeat on every row).
                tail = texts.get(value)
                if tail is None:
                    tail = _text_tail(convert(value) if convert is not None else value)
                    if tail is _NOT_FAST:
                        self.append_via_xlsxwriter(row)
                        return
                    if tail is not _NOT_TEXT and len(texts) < _TEXTS_KEPT:
                        texts[value] = tail
                if tail is not _NOT_TEXT:
                    if tail:
                        cells.append(f'<c r="{ref}{n}"{tail}')
                        if first < 0:
                            first = i
                        last = i
                    continue
            if convert is not None:
                value = convert(value)
                if value is None:
                    continue
            kind = value.__class__
            if kind is float or kind is int:
                if kind is float and not math.isfinite(value):
                    continue
                if own:
                    fmt = own.get(i, fmt)
                style = self._style_attrs.get(fmt)
                if style is None:
                    style = self._style_attrs[fmt] = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
                cells.append(f'<c r="{ref}{n}"{style}><v>{value:.16G}</v></c>')
            elif kind is str:
                tail = _text_tail(value)
                if tail is _NOT_FAST:
                    self.append_via_xlsxwriter(row)
                    return
                cells.append(f'<c r="{ref}{n}"{tail}')
            else:
                self.append_via_xlsxwriter(row)
                return
            if first < 0:
                first = i
            last = i
        if cells:
            sheet._check_dimensions(r, first)
            sheet._check_dimensions(r, last)
            sheet.fh.write(f'<row r="{n}">{"".join(cells)}</row>')
        self.rows += 1

    def append_via_xlsxwriter(self, row: dict[str, Any]) -> None:
        """Write one data row cell by cell through XlsxWriter (the reference for :meth:`append`).

        The same as ``write_cell(..., column.value(row), ...)`` for every column, with the common
        types (text, float, int) inlined: this loop runs once per cell.
        """
        r = HEADER_ROWS + self.rows
        sheet = self.sheet
        write_string, write_number = sheet.write_string, sheet.write_number
        own: dict[int, Format | None] = {}
        for i, row_format, default in self._row_formats:
            chosen = row_format(row)
            if chosen is not None and chosen != default:
                own[i] = self.styles.number(chosen)
        for i, key, convert, fmt in self._plan:
            if own:
                fmt = own.get(i, fmt)
            value = row.get(key)
            if convert is not None:
                value = convert(value)
            if value is None:
                continue
            kind = value.__class__
            if kind is str:
                write_string(r, i, line_ends(escape_text(value)))
            elif kind is float:
                if math.isfinite(value):
                    write_number(r, i, value, fmt)
            elif kind is int:
                write_number(r, i, value, fmt)
            else:
                write_cell(sheet, self.styles, r, i, cell_value(value), fmt)
        self.rows += 1

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.append(row)

    def finish(self, footer: str = "") -> None:
        """Set the auto-filter over the data (the second header row carries the filter buttons),
        the status colours and the page setup (:func:`print_setup`)."""
        last = HEADER_ROWS + max(self.rows, 1) - 1
        self.sheet.autofilter(HEADER_ROWS - 1, 0, last, len(self.columns) - 1)
        for i, column in enumerate(self.columns):
            for text, fmt in STATUS_COLOURS.get(column.key, ()):
                self.sheet.conditional_format(
                    HEADER_ROWS,
                    i,
                    last,
                    i,
                    {
                        "type": "text",
                        "criteria": "begins with",
                        "value": text,
                        "format": getattr(self.styles, fmt),
                    },
                )
        print_setup(self.sheet, footer)


#: Conditional colours per column: cells beginning with the label get the report's colour.
STATUS_COLOURS: dict[str, tuple[tuple[str, str], ...]] = {
    "year_status": (("未达标", "bad"), ("达标", "ok")),
    "trajectory_status": (("进度滞后", "bad"), ("有风险", "warn"), ("进度正常", "ok")),
    "severity": (("高", "bad"), ("严重", "bad"), ("中", "warn")),
}


def text_width(text: str) -> int:
    """Columns a text takes in a spreadsheet (a CJK character takes two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def column_width(column: Column) -> float:
    """The column's width, wide enough for both its headers (none is cut)."""
    return max(column.width, text_width(column.zh) + 2, text_width(column.en) + 2)


def _header_text(text: str) -> str:
    return text.replace("&", "&&")


def print_setup(sheet: Worksheet, footer: str = "") -> None:
    """A4 landscape, as wide as one page (as many pages down as it takes), the two header rows on
    every page, the title and sheet above and the publication and page number below."""
    sheet.set_paper(9)  # A4
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0, HEADER_ROWS - 1)
    sheet.set_margins(left=0.4, right=0.4, top=0.7, bottom=0.7)
    sheet.set_header("&L民政共同富裕评价 Common Prosperity Scorecard&R&A", {"margin": 0.3})
    sheet.set_footer(f"&L{_header_text(footer)}&R第 &P / &N 页 page &P of &N", {"margin": 0.3})


# --- reading ------------------------------------------------------------------------------------


def _only(
    year: int | None, levels: Sequence[str] | None, alias: str, counties_from: int | None = None
) -> tuple[str, list[Any]]:
    """A ``where`` condition for one year and some region levels (none: everything); with
    ``counties_from``, the levels below the cities only from that year on."""
    conditions, params = [], []
    if year is not None:
        conditions.append(f"{alias}.year = ?")
        params.append(year)
    if levels:
        conditions.append(f"{alias}.region_level in ({', '.join('?' for _ in levels)})")
        params.extend(levels)
    if counties_from is not None:
        conditions.append(
            f"({alias}.region_level in ({', '.join('?' for _ in PRINT_LEVELS)}) or {alias}.year >= ?)"
        )
        params.extend([*PRINT_LEVELS, counties_from])
    return "".join(f" and {c}" for c in conditions), params


def progress_rows(
    con: duckdb.DuckDBPyConnection,
    zone_code: str,
    *,
    year: int | None = None,
    levels: Sequence[str] | None = None,
    counties_from: int | None = None,
) -> list[dict[str, Any]]:
    """The zone's indicator progress (one year and some levels, or all; with ``counties_from``,
    the counties from that year on) with measure and region names, in a stable order."""
    measure_join = region_join = ""
    measure_cols = "null as measure_name_zh, null as measure_name_en, null as unit_zh, null as measure_kind"
    region_cols = "null as region_name_zh, null as region_name_en"
    if has_table(con, "marts", "dim_measure"):
        measure_join = "left join marts.dim_measure as m on p.measure_code = m.measure_code"
        measure_cols = "m.name_zh as measure_name_zh, m.name_en as measure_name_en, m.unit_zh, m.measure_kind"
    if has_table(con, "marts", "dim_region"):
        region_join = "left join marts.dim_region as r on p.region_code = r.region_code"
        region_cols = "r.name_zh as region_name_zh, r.name_en as region_name_en"
    available = set(table_columns(con, "marts", "fct_indicator_progress"))
    wanted = {c.key for c in PROGRESS_COLUMNS} & available
    fact_cols = ", ".join(f"p.{quote_ident(c)}" for c in sorted(wanted))
    only, params = _only(year, levels, "p", counties_from)
    return fetch_dicts(
        con,
        f"select {fact_cols}, {measure_cols}, {region_cols} from marts.fct_indicator_progress as p "
        f"{measure_join} {region_join} where p.zone_code = ?{only} "
        f"order by p.measure_code, {LEVEL_ORDER.replace('region_level', 'p.region_level')},"
        " p.region_code, p.year",
        [zone_code, *params],
    )


def dimension_columns(con: duckdb.DuckDBPyConnection, zone: Zone) -> list[Column]:
    """The zone's dimension-score columns, headed by the dimension's Chinese and English names.

    The names come from ``marts.fct_index_dimension_scores``; a column is matched to the dimension
    whose scores it equals on every row (so the pairing is checked, not assumed). A column that
    matches none is headed by its own name.
    """
    score_cols = [c for c in table_columns(con, "marts", zone.index_table) if c not in INDEX_FIXED]
    names: dict[str, tuple[str, str]] = {}
    if has_table(con, "marts", "fct_index_dimension_scores"):
        dims = con.execute(
            "select distinct dimension_code, dimension_no, dimension_name_zh, dimension_name_en "
            "from marts.fct_index_dimension_scores where zone_code = ? order by dimension_no",
            [zone.code],
        ).fetchall()
        codes = list(dict.fromkeys(code for code, *_ in dims))
        if score_cols and codes:
            # One pass over the join for every column and dimension (it was one query per pair).
            table = quote_ident(zone.index_table)
            mismatches = ", ".join(
                f"count(*) filter (where abs(f.{col} - d.dimension_score) > 1e-9 "
                f"or (f.{col} is null) <> (d.dimension_score is null))"
                for col in map(quote_ident, score_cols)
            )
            counts = {
                row[0]: row[1:]
                for row in con.execute(
                    f"select d.dimension_code, count(*), {mismatches} "
                    f"from marts.{table} as f join marts.fct_index_dimension_scores as d "
                    "on d.region_code = f.region_code and d.year = f.year "
                    f"where d.dimension_code in ({', '.join('?' for _ in codes)}) "
                    "group by d.dimension_code",
                    codes,
                ).fetchall()
            }
            for i, column in enumerate(score_cols):
                for code, _no, name_zh, name_en in dims:
                    matched, *wrong = counts.get(code, (0,) + (0,) * len(score_cols))
                    if matched and not wrong[i]:
                        names[column] = (f"{name_zh}得分", f"{name_en} score")
                        break
    return [
        Column(*names.get(c, (c, c.replace("_", " "))), key=c, width=14, number_format=FMT_SCORE)
        for c in score_cols
    ]


def index_rows(
    con: duckdb.DuckDBPyConnection, zone: Zone, *, year: int | None = None
) -> list[dict[str, Any]]:
    """The zone's index fact table (one year, or all) with the city name, in a stable order."""
    city = "null as city_name_zh"
    join = ""
    if has_table(con, "marts", "dim_region"):
        city = "c.name_zh as city_name_zh"
        join = "left join marts.dim_region as c on f.city_code = c.region_code"
    movers = "null as top_movers"
    if has_table(con, "marts", "fct_index_score_changes"):
        # The two dimensions that moved the index most since the year before, with their points.
        movers = "m.top_movers"
        join += (
            " left join (select region_code, year, string_agg(dimension_name_zh || ' '"
            " || printf('%+.1f', contribution), '；' order by mover_rank) as top_movers"
            " from marts.fct_index_score_changes"
            f" where zone_code = '{zone.code}' and mover_rank <= 2 and contribution <> 0"
            " group by region_code, year) as m on f.region_code = m.region_code and f.year = m.year"
        )
    return fetch_dicts(
        con,
        f"select f.*, {city}, {movers} from marts.{quote_ident(zone.index_table)} as f {join} "
        f"where {'f.year = ?' if year is not None else 'true'} "
        f"order by f.year, {LEVEL_ORDER.replace('region_level', 'f.region_level')}, f.rank_in_level,"
        " f.region_code",
        [year] if year is not None else [],
    )


def alert_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    year: int | None = None,
    levels: Sequence[str] | None = None,
    counties_from: int | None = None,
) -> list[dict[str, Any]]:
    """Every alert (or one year's, at some region levels: alerts about no region are kept; with
    ``counties_from``, those about counties from that year on) with measure, region and division
    names, most serious and most recent first. The division is the alert's own, else the division
    that reports the measure (a missed target is the measure's)."""
    if not has_table(con, "marts", "fct_alerts"):
        return []
    available = set(table_columns(con, "marts", "fct_alerts"))
    cols = ", ".join(f"a.{quote_ident(c)}" for c in sorted(available))
    extra, joins = [], []
    has_measures = has_table(con, "marts", "dim_measure") and "measure_code" in available
    if has_measures:
        extra.append("m.name_zh as measure_name_zh")
        extra.append("m.measure_kind")
        joins.append("left join marts.dim_measure as m on a.measure_code = m.measure_code")
    has_regions = has_table(con, "marts", "dim_region") and "region_code" in available
    if has_regions:
        extra.append("r.name_zh as region_name_zh")
        joins.append("left join marts.dim_region as r on a.region_code = r.region_code")
    if has_table(con, "marts", "dim_department") and "department_code" in available:
        division = "coalesce(a.department_code, m.department_code)" if has_measures else "a.department_code"
        extra.append("d.name_zh as department_name_zh")
        joins.append(f"left join marts.dim_department as d on d.department_code = {division}")
    conditions = []
    params: list[Any] = []
    if year is not None and "year" in available:
        conditions.append("a.year = ?")
        params.append(year)
    if levels and has_regions:
        conditions.append(f"(r.region_level is null or r.region_level in ({', '.join('?' for _ in levels)}))")
        params.extend(levels)
    if counties_from is not None and has_regions and "year" in available:
        conditions.append(
            f"(r.region_level is null or r.region_level in ({', '.join('?' for _ in PRINT_LEVELS)})"
            " or a.year >= ?)"
        )
        params.extend([*PRINT_LEVELS, counties_from])
    where = f"where {' and '.join(conditions)}" if conditions else ""
    select = ", ".join([cols, *extra])
    order = [
        "case a.severity when 'high' then 0 when 'medium' then 1 else 2 end"
        if "severity" in available
        else None,
        "a.period desc" if "period" in available else None,
        "a.measure_code" if "measure_code" in available else None,
        "a.region_code" if "region_code" in available else None,
        "a.alert_id" if "alert_id" in available else None,
    ]
    order_by = ", ".join(o for o in order if o) or "1"
    return fetch_dicts(
        con,
        f"select {select} from marts.fct_alerts as a {' '.join(joins)} {where} order by {order_by}",
        params,
    )


def publication_facts(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``meta.publication`` of the snapshot (empty when absent)."""
    if not has_table(con, "meta", "publication"):
        return {}
    rows = fetch_dicts(con, "select * from meta.publication limit 1")
    return rows[0] if rows else {}


def write_about(
    workbook: Workbook,
    styles: Styles,
    con: duckdb.DuckDBPyConnection,
    sheets: list[tuple[str, str, str]],
    footer: str = "",
) -> None:
    """The first sheet: the publication and a guide to the other sheets."""
    sheet = workbook.add_worksheet(unique_title(workbook, ABOUT_SHEET))
    sheet.set_column(0, 0, 28)
    sheet.set_column(1, 1, 60)
    sheet.set_column(2, 2, 70)
    rows: list[tuple[list[Any], Format | None]] = [
        (["民政共同富裕评价 工作簿 Common Prosperity Scorecard workbook"], styles.title)
    ]
    facts = publication_facts(con)
    for zh, en, key in (
        ("发布批次", "Run id", "run_id"),
        ("发布时间", "Published at", "published_at"),
        ("数据截至", "As of", "as_of"),
    ):
        value = facts.get(key)
        if key == "published_at":
            value = beijing_time(value)
        rows.append(([f"{zh} {en}", value.isoformat() if hasattr(value, "isoformat") else value], None))
    rows.append(([], None))
    rows.append((["工作表 Sheet", "内容", "Contents"], styles.bold))
    rows.extend(([name, zh, en], None) for name, zh, en in sheets)
    rows.append(([], None))
    for zh, en in (
        ("完成率：实际值相对年度目标的完成程度（%）；是否达标见“年度状态”列。",
         "Attainment: the actual value against the year's target (%); Year status says if it was met."),
        ("指数为 0-100 分；排名在同一层级（地市或县）内。",
         "Indices are 0-100; ranks are within one level (cities or counties)."),
        ("以 ' 开头的文字是为防止公式注入而转义的原文。",
         "Text starting with ' is the original text, escaped so that it can never run as a formula."),
    ):  # fmt: skip
        rows.append(([None, zh, en], None))
    print_setup(sheet, footer)
    for r, (values, fmt) in enumerate(rows):
        for c, value in enumerate(values):
            value = cell_value(value)
            if fmt is not None and isinstance(value, str):
                sheet.write_string(r, c, line_ends(value), fmt)
            else:
                write_cell(sheet, styles, r, c, value, None)


def _sheet(
    workbook: Workbook,
    styles: Styles,
    title: str,
    columns: Sequence[Column],
    footer: str,
    rows: Callable[[], Iterable[dict[str, Any]]],
) -> Callable[[], None]:
    """Write one sheet later (the About sheet comes first, and lists them)."""

    def write() -> None:
        writer = SheetWriter(workbook, title, columns, styles)
        writer.extend(rows())
        writer.finish(footer)

    return write


def latest_judged_year(con: duckdb.DuckDBPyConnection) -> int | None:
    """The latest year whose targets were judged (met or not met), else the latest year."""
    row = con.execute(
        "select max(case when year_status in ('met', 'not_met') then year end), max(year)"
        " from marts.fct_indicator_progress"
    ).fetchone()
    if row is None:
        return None
    found = row[0] if row[0] is not None else row[1]
    return None if found is None else int(found)


def latest_index_year(con: duckdb.DuckDBPyConnection, zones: Sequence[Zone]) -> int | None:
    years = [
        con.execute(
            f"select max(year) from marts.{quote_ident(zone.index_table)} where index_score is not null"
        ).fetchone()[0]
        for zone in zones
        if has_table(con, "marts", zone.index_table)
    ]
    found = [int(y) for y in years if y is not None]
    return max(found) if found else None


def publication_footer(con: duckdb.DuckDBPyConnection) -> str:
    """The printed footer's publication: run id and time (Beijing time)."""
    facts = publication_facts(con)
    published = beijing_time(facts.get("published_at"))
    parts = [f"发布 Published {facts['run_id']}" if facts.get("run_id") else None, published]
    return " · ".join(p for p in parts if p)


def write_workbook(snapshot: Path, out_path: Path) -> Path:
    """Write the publication workbook for ``snapshot`` to ``out_path``; return ``out_path``.

    Args:
        snapshot: the published DuckDB snapshot (opened read-only, closed before returning).
        out_path: the ``.xlsx`` file to write (its folder is created if missing); written aside
            and moved into place.
    """
    snapshot = Path(snapshot)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    con = connect_snapshot(snapshot)
    workbook = None
    try:
        workbook = new_workbook(tmp)
        styles = Styles.of(workbook)
        zones = load_zones(con)
        has_progress = has_table(con, "marts", "fct_indicator_progress")
        year = latest_judged_year(con) if has_progress else None
        index_year = latest_index_year(con, zones)
        footer = publication_footer(con)
        dimensions = {zone.code: tuple(dimension_columns(con, zone)) for zone in zones}
        guide: list[tuple[str, str, str]] = []
        # Printed first: the latest year, province and cities, in the columns an official reads
        # (a few landscape pages each); then the history sheets: every year, level and column.
        plan: list[tuple[str, Callable[[], None]]] = []
        for zone in zones:
            if year is not None:
                title = f"{zone.name_zh} {zone.code} {year}"
                guide.append(
                    (
                        sheet_title(title),
                        f"{year} 年{zone.name_zh}领域各指标：全省与各设区市的实际值、目标值、"
                        "完成率与状态（打印用）",
                        f"{zone.name_en}, {year}: each indicator for the province and the cities (for print)",
                    )
                )
                rows = partial(progress_rows, con, zone.code, year=year, levels=PRINT_LEVELS)
                plan.append((title, _sheet(workbook, styles, title, PRINT_PROGRESS_COLUMNS, footer, rows)))
            if index_year is not None:
                title = f"{zone.index_name_zh} {zone.code} {index_year}"
                guide.append(
                    (
                        sheet_title(title),
                        f"{index_year} 年{zone.index_name_zh}：各地区指数、排名与各维度得分（打印用）",
                        f"{zone.index_name_en}, {index_year}: index, rank and dimension scores (for print)",
                    )
                )
                columns = INDEX_COLUMNS + dimensions[zone.code]
                rows = partial(index_rows, con, zone, year=index_year)
                plan.append((title, _sheet(workbook, styles, title, columns, footer, rows)))
        if year is not None:
            title = f"预警 Alerts {year}"
            guide.append(
                (
                    sheet_title(title),
                    f"{year} 年全省与各设区市的预警（县级预警见“预警 Alerts”）（打印用）",
                    f"Alerts of {year} for the province and the cities (counties: 预警 Alerts) (for print)",
                )
            )
            rows = partial(alert_rows, con, year=year, levels=PRINT_LEVELS)
            plan.append((title, _sheet(workbook, styles, title, PRINT_ALERT_COLUMNS, footer, rows)))
        # The history sheets: every year of the province and the cities; the counties from the
        # latest judged year on (their earlier years: Parquet, fct_indicator_progress and
        # fct_alerts). At national size every county and year was ~15 M cells and most of
        # publication's minutes; docs/bi.md §1 says what is where.
        counties = f"各县（市、区）自 {year} 年起" if year is not None else "各县（市、区）"
        counties_en = f"counties from {year} on" if year is not None else "counties"
        for zone in zones:
            title = f"{zone.name_zh} {zone.code}"
            guide.append(
                (
                    sheet_title(title),
                    f"{zone.name_zh}领域各指标进展（历年）：指标×地区×年度的实际值、目标值、完成率与状态；"
                    f"全省与各设区市为历年，{counties}（更早年度见 Parquet 文件）",
                    f"{zone.name_en}: every indicator's progress by region and year (actual, target,"
                    f" attainment): the province and the cities every year, {counties_en}"
                    " (earlier years: the Parquet files)",
                )
            )
            rows = partial(progress_rows, con, zone.code, counties_from=year) if has_progress else list
            plan.append((title, _sheet(workbook, styles, title, PROGRESS_COLUMNS, footer, rows)))
            title = f"{zone.index_name_zh} {zone.code}"
            guide.append(
                (
                    sheet_title(title),
                    f"{zone.index_name_zh}（历年）：各地区各年度指数、排名、覆盖率与各维度得分",
                    f"{zone.index_name_en}: index, rank, coverage and dimension scores by region and year,"
                    " all years",
                )
            )
            columns = INDEX_COLUMNS + dimensions[zone.code]
            rows = partial(index_rows, con, zone)
            plan.append((title, _sheet(workbook, styles, title, columns, footer, rows)))
        guide.append(
            (
                ALERTS_SHEET,
                "预警（历年；未完成目标、逾期报送等）：全省与各设区市为历年，"
                f"{counties}（更早年度见 Parquet 文件）",
                "Alerts (missed targets, late submissions, ...): the province and the cities every year,"
                f" {counties_en} (earlier years: the Parquet files)",
            )
        )
        alerts = partial(alert_rows, con, counties_from=year)
        plan.append((ALERTS_SHEET, _sheet(workbook, styles, ALERTS_SHEET, ALERT_COLUMNS, footer, alerts)))
        write_about(workbook, styles, con, guide, footer)
        for _title, write in plan:
            write()
        workbook.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_path)
    except BaseException:
        if workbook is not None and not workbook.fileclosed:
            with contextlib.suppress(Exception):
                workbook.close()  # ends its temporary files; the half-written file goes below
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return out_path
