"""Columnar reading and validation of plain long-format CSV files: the loader's happy path.

The general path (:mod:`ingest.readers`, :mod:`ingest.layout`, :mod:`ingest.validate`) turns every
row into Python objects: one list per CSV row, one :class:`~ingest.layout.RawRecord`, one validated
row. For a large long-format file that is most of the time and ~2 KB of memory per row. This module
reads such a file straight from its bytes into Arrow columns and decides the rows column-wise;
Python objects are made only for the rows that need the validator's per-row rules (a refusal, a
unit to convert, a number with a separator...), so every reason text stays the validator's own.

It takes a file only when its reading is *certain* to equal the general path's, and declines it
(``None``: the loader then takes the general path, which decides everything as before) otherwise:

- UTF-8 (with or without BOM), no NUL, no ``"`` (no quoting: a row is a line, and Python's csv
  and Arrow's parser split it the same way), no carriage return outside ``\\r\\n``;
- the comma reading wins the delimiter choice (its header names at least as many known columns as
  a tab or semicolon reading, judged on the same header rows as the general path) and its header
  makes a long layout;
- every data row has as many cells as the header row (Arrow refuses any other row), and no line
  is longer than Python csv's field size limit.

The loader also declines the file when anything would refuse it as a whole (personal data, the
department, a missing column...): those refusals quarantine every row, which the general path does.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ingest import fastpath, pii
from ingest.errors import MAX_LISTED_ROWS, Issue, RowError, listed_rows
from ingest.layout import (
    HEADER_SCAN_ROWS,
    Extraction,
    RawRecord,
    WideRegistry,
    extract_grid,
    is_form_line,
)
from ingest.readers import CSV_DELIMITERS, MAX_COLUMNS, Grid, paused_gc
from ingest.rules import Rejection, ValidationContext
from ingest.validate import raw_json, validate_value_record
from ingest.values import is_missing

# Python's csv module refuses a longer field (``csv.field_size_limit()``); the general path then
# refuses the file as unreadable. A line no longer than this cannot hold such a field.
_FIELD_SIZE_LIMIT = csv.field_size_limit()
# Rows decided per batch: bounds the memory of the intermediate columns (tens of bytes per row
# each) whatever the file's size. The parsed file and the accepted rows are kept whole.
BATCH_ROWS = 131_072
# A personal identifier in ASCII text needs one of these: an 18-digit ID number holds 11 digits in a
# row; a mobile number is 3+4+4 digits with an optional space or hyphen after the 3rd and 7th digit.
# A strict superset of what ``pii.find_in_text`` can find in ASCII text (non-ASCII cells are checked
# one by one by pii itself); RE2 syntax, run by Arrow over whole columns.
_ASCII_IDENTIFIER_SUPERSET = r"[0-9](?:[ \t./_\\-]{0,2}[0-9]){10}"  # pii._PREFILTER on ASCII
_IDENTIFIER_MIN_BYTES = 11
_SUBMISSION_COLUMNS = ("row_ref", "department_code", *fastpath.PLAIN_COLUMNS)


@dataclass
class PlainCsv:
    """A plain long-format CSV: the header as the general path reads it, and the data rows as Arrow
    string columns (``c0``, ``c1``... one per header cell; row ``i`` is row ``first_row + i``)."""

    extraction: Extraction  # of the rows up to and including the header (layout, columns, header)
    head_rows: list[tuple[int, list[Any]]]  # the rows up to and including the header
    table: pa.Table
    first_row: int
    ascii: bool
    _kept: list[pa.Array] | None = None

    def batches(self) -> list[tuple[pa.RecordBatch, pa.Array]]:
        """The data rows in batches of at most :data:`BATCH_ROWS`, each with its non-blank rows."""
        batches = self.table.to_batches(max_chunksize=BATCH_ROWS)
        if self._kept is None:
            self._kept = [_not_blank(batch) for batch in batches]
        return list(zip(batches, self._kept, strict=True))

    def release(self) -> None:
        """Drop the data rows (once decided), keeping the header facts."""
        self.table = self.table.schema.empty_table()
        self._kept = None

    @property
    def record_count(self) -> int:
        """The rows that make a record (the general path skips blank rows)."""
        return sum(pc.sum(kept).as_py() or 0 for _, kept in self.batches())


def _line_ends(data: bytes, start: int, count: int) -> list[int]:
    """Offsets just past each of the first ``count`` line breaks from ``start`` (fewer at the end)."""
    ends: list[int] = []
    position = start
    while len(ends) < count:
        found = data.find(b"\n", position)
        if found < 0:
            break
        position = found + 1
        ends.append(position)
    return ends


def _head_extraction(text: str, delimiter: str, registry: WideRegistry | None) -> Extraction:
    rows = list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), 1))
    return extract_grid(Grid(rows=rows, delimiter=delimiter), registry)


def read_plain_csv(data: bytes, registry: WideRegistry | None) -> PlainCsv | None:
    """The file as a :class:`PlainCsv`, or None when it is not certain to read as the general path
    reads it (see the module docstring)."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b'"' in data or b"\x00" in data:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    # Without quotes a row is a line: the header is among the first lines, exactly as the general
    # path's header search looks at the first rows.
    ends = _line_ends(data, start, HEADER_SCAN_ROWS)
    head_end = ends[-1] if len(ends) == HEADER_SCAN_ROWS else len(data)
    try:
        head_text = data[start:head_end].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(len(line) > _FIELD_SIZE_LIMIT for line in head_text.split("\n")):
        return None
    extraction = _head_extraction(head_text, ",", registry)
    if extraction.layout != "long" or extraction.header_row is None:
        return None
    if extraction.form is not None:
        return None  # a total row, a footer or a 单位 line: the general path sets them apart
    # The general path reads every delimiter found in the file and keeps the first reading with
    # the best header (comma first): the comma reading must not lose to another.
    key = (extraction.header_found, len(extraction.columns))
    for delimiter in CSV_DELIMITERS:
        if delimiter != "," and delimiter.encode() in data:
            other = _head_extraction(head_text, delimiter, registry)
            if (other.header_found, len(other.columns)) > key:
                return None
    header_row = extraction.header_row
    if header_row > len(ends):
        return None  # the header is the last line: no data rows (the general path says so)
    assert extraction.grid is not None
    head_rows = extraction.grid.rows[:header_row]
    width = len(extraction.header_cells)
    if not 0 < width <= MAX_COLUMNS or any(len(cells) > MAX_COLUMNS for _, cells in head_rows):
        return None
    names = [f"c{index}" for index in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(pa.py_buffer(data)[ends[header_row - 1] :]),
            read_options=pa_csv.ReadOptions(column_names=names),
            parse_options=pa_csv.ParseOptions(
                delimiter=",",
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                # An empty line is a row of empty cells (a blank row, as in the general path),
                # which keeps the row numbers aligned with the lines.
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError):
        return None  # a row of another width, invalid UTF-8, no data rows...
    if table.num_rows == 0:
        return None
    # Arrow parses in 1 MB blocks (its fastest); the batches below are cut from one chunk.
    table = table.combine_chunks()
    if len(data) > _FIELD_SIZE_LIMIT:
        line_bytes = pc.add(_sum(pc.binary_length(column) for column in table.columns), width - 1)
        if pc.max(line_bytes).as_py() > _FIELD_SIZE_LIMIT:
            return None
    return PlainCsv(extraction, head_rows, table, header_row + 1, data.isascii())


def _sum(arrays: Iterable[Any]) -> Any:
    total = None
    for array in arrays:
        total = array if total is None else pc.add(total, array)
    return total


# --- personal data -------------------------------------------------------------------------------


def holds_personal_data(plain: PlainCsv) -> bool:
    """True when a cell of the file holds a personal identifier (pii's own rules decide every cell
    that could hold one). The caller then takes the general path, which refuses the file."""
    for _, cells in plain.head_rows:
        if any(pii.contains_personal_data(cell) for cell in cells):
            return True
    for column in plain.table.columns:
        suspects = []
        if not plain.ascii:
            # NFKC may turn a short non-ASCII cell into digits ("⑪" -> "11"): pii checks each one.
            suspects.append(pc.filter(column, pc.invert(pc.string_is_ascii(column))))
        long = pc.filter(column, pc.greater_equal(pc.binary_length(column), _IDENTIFIER_MIN_BYTES))
        if len(long):
            suspects.append(pc.filter(long, pc.match_substring_regex(long, _ASCII_IDENTIFIER_SUPERSET)))
        for suspect in suspects:
            if len(suspect) and any(
                pii.contains_personal_data(cell) for cell in pc.unique(suspect).to_pylist()
            ):
                return True
    return False


# --- rows ------------------------------------------------------------------------------------------


def _missing_flags(column: pa.Array) -> pa.Array:
    """Per cell: the validator reads it as missing (blank, "——", "n/a"...)."""
    # A cell of ASCII digits (a region code) is never missing (no marker holds a digit, NFKC or
    # not): only the other cells are looked at, once per distinct value.
    maybe = pc.invert(pc.ascii_is_decimal(column))
    if not pc.any(maybe).as_py():
        return maybe
    encoded = pc.dictionary_encode(pc.if_else(maybe, column, pa.scalar("0")))
    flags = pa.array([is_missing(value) for value in encoded.dictionary.to_pylist()], pa.bool_())
    return pc.take(flags, encoded.indices)


def _not_blank(batch: pa.RecordBatch) -> pa.Array:
    """Per row: some cell is not missing (blank rows are skipped, as the general path skips them)."""
    blank = None
    for column in batch.columns:
        flags = _missing_flags(column)
        blank = flags if blank is None else pc.and_(blank, flags)
        if not pc.any(blank).as_py():
            break
    return pc.invert(blank)


def declared_department(plain: PlainCsv) -> str | None:
    """The department the file declares: its first non-blank row's department cell, if any."""
    index = plain.extraction.columns.get("department")
    if index is None:
        return None
    for batch, kept in plain.batches():
        column = pc.filter(batch.column(index), kept)
        encoded = pc.dictionary_encode(column)
        given = [bool(str(value).strip()) for value in encoded.dictionary.to_pylist()]
        position = pc.index(pc.take(pa.array(given, pa.bool_()), encoded.indices), True).as_py()
        if position >= 0:
            return str(column[position].as_py()).strip()
    return None


def _records(plain: PlainCsv, batch: pa.RecordBatch, rows: pa.Array, sources: list[int]) -> list[RawRecord]:
    """The general path's record of each row picked (``rows``: indices into the batch)."""
    extraction = plain.extraction
    names = list(extraction.columns)
    indexes = list(extraction.columns.values())
    headers = extraction.header_cells
    picked = batch.take(rows)
    cells_of = list(zip(*(column.to_pylist() for column in picked.columns), strict=True))
    records = []
    for source, row_cells in zip(sources, cells_of, strict=True):
        cells = list(row_cells)
        values = dict(zip(names, map(cells.__getitem__, indexes), strict=True))
        records.append(
            RawRecord(ref=f"row {plain.first_row + source}", values=values, headers=headers, cells=cells)
        )
    return records


def _row_refs(plain: PlainCsv, sources: pa.Array) -> pa.Array:
    numbers = pc.cast(pc.add(sources, plain.first_row), pa.string())
    return pc.binary_join_element_wise(pa.scalar("row"), numbers, " ")


def _slow_table(rows: list[Any], sources: list[int], key_ids: fastpath.KeyIds) -> pa.Table:
    """Rows the validator accepted one by one, in the shape of the plain rows (plus their source)."""
    columns: dict[str, pa.Array] = {"source": pa.array(sources, pa.int64())}
    for name in fastpath.PLAIN_COLUMNS:
        kind = pa.float64() if name in {"value", "numerator", "denominator"} else pa.string()
        columns[name] = pa.array([getattr(row, name) for row in rows], kind)
    keys = []
    for row in rows:
        key = 0
        for part in fastpath.KEY_PARTS:
            key = (key << fastpath.KEY_BITS) | fastpath.key_number(key_ids, part, getattr(row, part))
        keys.append(key)
    columns[fastpath.KEY_COLUMN] = pa.array(keys, pa.int64())
    return pa.table(columns)


def _names_a_total(names: pa.Array) -> bool:
    """True when a region-name cell says 合计, 全市... (each distinct name looked at once)."""
    return any(is_form_line([name], {}) for name in pc.unique(names).to_pylist() if name)


def validate_plain(plain: PlainCsv, context: ValidationContext) -> tuple[pa.Table, list[Rejection]]:
    """Every data row of the file, decided: the accepted rows as a ``raw.submissions`` table (without
    file id and time) and the refusals, in the order and with the texts of
    :func:`ingest.validate.validate_records`. Releases ``plain``'s rows when done (memory)."""
    fields = plain.extraction.columns
    memo: fastpath.Memo = {}
    key_ids: fastpath.KeyIds = {}
    accepted: list[pa.Table] = []
    rejections: list[Rejection] = []
    stats = fastpath.FastPathStats(columnar=True)
    offset = 0
    for batch, kept in plain.batches():
        count = batch.num_rows
        sources = pc.add(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), count)), offset - 1)
        offset += count
        if not pc.all(kept).as_py():
            batch, sources = batch.filter(kept), pc.filter(sources, kept)
            count = batch.num_rows
            if count == 0:
                continue
        if "region_name" in fields and _names_a_total(batch.column(fields["region_name"])):
            raise fastpath.Declined("a total row under a region's code")  # "330100, 全市合计"
        nulls = pa.nulls(count, pa.string())
        arrays = {name: batch.column(fields[name]) if name in fields else nulls for name in fastpath._FIELDS}
        mask, plain_rows = fastpath.decide_columns(arrays, nulls, context, memo=memo, key_ids=key_ids)
        stats.records += count
        stats.plain += plain_rows.num_rows
        parts = [plain_rows.add_column(0, "source", pc.filter(sources, mask))]
        if plain_rows.num_rows < count:
            slow = pc.indices_nonzero(pc.invert(mask))
            slow_sources = pc.take(sources, slow).to_pylist()
            rows, row_sources = [], []
            with paused_gc():
                for source, record in zip(
                    slow_sources, _records(plain, batch, slow, slow_sources), strict=True
                ):
                    if is_form_line(record.cells or [], fields):
                        # A total row or a footer (never a plain row: its region cell is no
                        # code): the general path sets them apart.
                        raise fastpath.Declined("a total row or a footer")
                    try:
                        rows.append(validate_value_record(record, context))
                        row_sources.append(source)
                    except RowError as error:
                        issue = Issue(context.file_name, record.ref, error.field, error.code, error.params)
                        rejections.append(Rejection(issue, raw_json(record)))
            if rows:
                # Back into the file's order, as the general path keeps it.
                parts.append(_slow_table(rows, row_sources, key_ids))
        if len(parts) > 1:
            merged = pa.concat_tables(parts)
            parts = [merged.take(pc.sort_indices(merged.column("source")))]
        accepted.extend(parts)
    fastpath.last_stats = stats
    schema = _slow_table([], [], key_ids).schema
    table = pa.concat_tables(accepted) if accepted else schema.empty_table()
    accepted.clear()
    table, duplicates = _without_duplicates(plain, table, context)
    rejections.extend(duplicates)
    plain.release()  # every row is decided: the file's cells can go before the copy below
    refs = _row_refs(plain, table.column("source"))
    # A take from one value: pa.repeat builds a repeated string value by value (~1 s per million).
    zeros = pa.repeat(pa.scalar(0, pa.int32()), table.num_rows)
    department = pc.take(pa.array([context.department_code], pa.string()), zeros)
    # Only the submission columns remain (source and key numbers were for the checks above).
    parts = [refs, department, *(table.column(name) for name in fastpath.PLAIN_COLUMNS)]
    del table, refs, department
    # Each column in one chunk: DuckDB then writes the rows out as it inserts them; from many
    # odd-sized chunks it may keep them in memory and write them all when the connection closes
    # (seen: 0.6 s, +100 MB). Column by column, so that only one column is ever held twice.
    columns = []
    while parts:
        column = parts.pop(0)
        columns.append(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
        del column
    submissions = pa.table(columns, names=list(_SUBMISSION_COLUMNS))
    del columns
    # Hand the batches' scratch memory back now, before the warehouse needs its own.
    pa.default_memory_pool().release_unused()
    return submissions, rejections


def _without_duplicates(
    plain: PlainCsv, table: pa.Table, context: ValidationContext
) -> tuple[pa.Table, list[Rejection]]:
    """Rows sharing a key (region, measure, period) are all refused, as ``validate_records`` does:
    per key in the order of its first row, with every row of the key named."""
    if table.num_rows < 2:
        return table, []
    key = table.column(fastpath.KEY_COLUMN).combine_chunks()
    # Keys in strictly ascending order (a file listed period by period: see fastpath.KEY_PARTS)
    # cannot repeat; otherwise sorting integers finds a repeat faster than hashing strings would.
    if pc.all(pc.less(key.slice(0, len(key) - 1), key.slice(1))).as_py():
        return table, []
    ordered = pc.take(key, pc.sort_indices(key))
    again = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1))
    if not pc.any(again).as_py():
        return table, []
    repeated = pc.unique(pc.filter(ordered.slice(1), again))
    duplicated = pc.is_in(key, value_set=repeated)
    rows = table.filter(duplicated)
    sources = rows.column("source").to_pylist()
    keys = zip(
        rows.column("region_code").to_pylist(),
        rows.column("measure_code").to_pylist(),
        rows.column("period").to_pylist(),
        strict=True,
    )
    by_key: dict[tuple[str, str, str], list[int]] = {}
    for source, row_key in zip(sources, keys, strict=True):
        by_key.setdefault(row_key, []).append(source)
    records = _records_by_source(plain, sources)
    rejections = []
    for row_key, group in by_key.items():
        refs = listed_rows([f"row {plain.first_row + s}" for s in group[:MAX_LISTED_ROWS]], len(group))
        for source in group:
            record = records[source]
            params = {"key": " / ".join(row_key), "count": len(group), "rows": refs}
            issue = Issue(context.file_name, record.ref, None, "DUPLICATE_KEY", params)
            rejections.append(Rejection(issue, raw_json(record)))
    return table.filter(pc.invert(duplicated)), rejections


def _records_by_source(plain: PlainCsv, sources: list[int]) -> dict[int, RawRecord]:
    whole = plain.table
    picked = pa.array(sources, pa.int64())
    batch = pa.RecordBatch.from_arrays(
        [column.take(picked).combine_chunks() for column in whole.columns], names=whole.column_names
    )
    positions = pa.array(range(len(sources)), pa.int64())
    return dict(zip(sources, _records(plain, batch, positions, sources), strict=True))
