"""The workbook on paper and on screen, as officials use it.

Printing: LibreOffice (Debian's ``libreoffice-calc``, installed by ``tests/report/ensure_libreoffice.sh``
through ``make office``, which ``make test`` runs) converts the workbook to PDF, and the test reads
the pages back (their text with poppler's ``pdftotext``, installed by the same script; their size
with pypdf): every page is A4 landscape, carries the publication and its page number, repeats
both header rows, and each printed sheet (the latest year) takes at most a few pages. When
LibreOffice or pdftotext is missing this test FAILS (it never skips).

On screen (openpyxl): a status and its figure never contradict (a target missed at 99.96 % is not
shown as "100.0%"), counts have no decimals, no header is cut, every alert names its division and
the statuses are coloured as in the report.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from reports.queries import connect_snapshot
from reports.workbook import ALERTS_SHEET, FMT_COUNT, column_width, text_width
from tests.report.conftest import Publication

ENSURE_SCRIPT = Path(__file__).with_name("ensure_libreoffice.sh")
#: At most this many landscape pages for a printed (latest-year) sheet.
PRINTED_SHEET_PAGES = 4
TITLE = "民政共同富裕评价 Common Prosperity Scorecard"


def _latest_year(snapshot: Path) -> int:
    con = connect_snapshot(snapshot)
    try:
        (year,) = con.execute(
            "select max(year) from marts.fct_indicator_progress where year_status in ('met', 'not_met')"
        ).fetchone()
    finally:
        con.close()
    return int(year)


@pytest.fixture(scope="module")
def printed(workbook_path: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, float, float]]:
    """The workbook printed to PDF by LibreOffice: (text, width, height) of every page."""
    from pypdf import PdfReader

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.fail(f"LibreOffice is not installed: run {ENSURE_SCRIPT} (make office; CI runs make test)")
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail(f"pdftotext (poppler-utils) is not installed: run {ENSURE_SCRIPT} (make office)")
    out = tmp_path_factory.mktemp("printed")
    profile = out / "profile"  # its own LibreOffice profile: never shares a running instance
    proc = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(workbook_path),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    pdf = out / (workbook_path.stem + ".pdf")
    assert proc.returncode == 0 and pdf.exists(), proc.stdout + proc.stderr
    # The pages' text in their layout (the page header's title and sheet name on the first line),
    # one form feed after each page: pypdf's extract_text took 51 s for the 117 pages, this 1.5 s.
    extracted = subprocess.run(
        [pdftotext, "-layout", "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
        check=True,
    ).stdout
    *texts, rest = extracted.split("\f")
    assert rest.strip() == "", rest[:200]
    pages = PdfReader(pdf).pages
    assert len(texts) == len(pages)
    return [
        (text, float(page.mediabox.width), float(page.mediabox.height))
        for text, page in zip(texts, pages, strict=True)
    ]


def _sheet_of(text: str) -> str:
    """The sheet a printed page belongs to: the page header reads "<title> <sheet name>"."""
    first = text.split("\n", 1)[0]
    assert first.startswith(TITLE), first
    return first[len(TITLE) :].strip()


def test_printed_workbook_is_a_few_landscape_pages_per_sheet(
    publication: Publication, workbook_path: Path, printed: list[tuple[str, float, float]]
) -> None:
    year = _latest_year(publication.snapshot)
    book = load_workbook(workbook_path, read_only=True)
    names = book.sheetnames
    pages = Counter(_sheet_of(text) for text, _w, _h in printed)
    print("pages per sheet:", dict(pages), "total:", len(printed))
    assert set(pages) == set(names)  # every sheet prints, under its own name
    latest = [name for name in names if name.endswith(f" {year}")]
    assert len(latest) == 11, names  # five zones, five indices and the alerts of the latest year
    # the latest year comes first, history after it
    assert names[1 : 1 + len(latest)] == latest
    for name in latest:
        assert pages[name] <= PRINTED_SHEET_PAGES, (name, pages[name])
    for number, (text, width, height) in enumerate(printed, start=1):
        assert width > height, (number, width, height)  # landscape
        assert abs(width - 842) < 2 and abs(height - 595) < 2  # A4
        # the footer: the publication and the page number
        assert publication.manifest["run_id"] in text, number
        assert f"page {number} of {len(printed)}" in text, number


def test_every_printed_page_repeats_both_header_rows(
    workbook_path: Path, printed: list[tuple[str, float, float]]
) -> None:
    book = load_workbook(workbook_path, read_only=True)
    headers: dict[str, tuple[str, str]] = {}
    for sheet in book.worksheets[1:]:
        zh, en = (row for row in sheet.iter_rows(min_row=1, max_row=2, max_col=1, values_only=True))
        headers[sheet.title] = (str(zh[0]), str(en[0]))
    for number, (text, _w, _h) in enumerate(printed, start=1):
        sheet = _sheet_of(text)
        if sheet in headers:
            zh, en = headers[sheet]
            assert zh in text and en in text, (number, sheet)


def _decimals(number_format: str) -> int:
    match = re.search(r"\.(0+)%", number_format)
    return len(match.group(1)) if match else 0


def _progress_sheets(book: Any) -> list[Any]:
    return [sheet for sheet in book.worksheets if sheet.cell(1, 1).value == "指标代码"]


def test_a_status_and_its_figure_never_contradict(
    publication: Publication, loaded_workbook: Workbook
) -> None:
    book = loaded_workbook
    close_calls = 0
    for sheet in _progress_sheets(book):
        header = [c.value for c in sheet[1]]
        pct, status = header.index("完成率"), header.index("年度状态")
        for row in sheet.iter_rows(min_row=3):
            cell = row[pct]
            if not isinstance(cell.value, (int, float)) or row[status].value != "未达标 not met":
                continue
            decimals = _decimals(cell.number_format)
            shown = round(cell.value * 100, decimals)
            assert shown < 100, (sheet.title, cell.coordinate, cell.value, cell.number_format)
            if round(cell.value * 100, 1) >= 100:
                close_calls += 1
    assert close_calls > 0  # the data has targets missed by less than 0.05 %: the case is exercised


def test_counts_have_no_decimals(publication: Publication, loaded_workbook: Workbook) -> None:
    con = connect_snapshot(publication.snapshot)
    try:
        counts = {
            r[0]
            for r in con.execute(
                "select measure_code from marts.dim_measure"
                " where measure_kind in ('count', 'regions_meeting')"
            ).fetchall()
        }
    finally:
        con.close()
    assert counts
    book = loaded_workbook
    checked = 0
    for sheet in _progress_sheets(book):
        header = [c.value for c in sheet[1]]
        for row in sheet.iter_rows(min_row=3):
            if row[0].value not in counts:
                continue
            for column in ("实际值", "目标值"):
                cell = row[header.index(column)]
                if isinstance(cell.value, (int, float)):
                    assert cell.number_format == FMT_COUNT, (sheet.title, cell.coordinate, cell.number_format)
                    checked += 1
    assert checked


def test_no_header_is_cut(loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    for sheet in book.worksheets[1:]:
        widths: dict[int, float] = {}
        for dimension in sheet.column_dimensions.values():  # neighbours of one width share an entry
            for index in range(dimension.min, dimension.max + 1):
                widths[index] = dimension.width
        for i, (zh, en) in enumerate(zip(sheet[1], sheet[2], strict=True), start=1):
            width = widths[i]
            need = max(text_width(str(zh.value)), text_width(str(en.value)))
            assert width >= need, (sheet.title, zh.value, en.value, width)


def test_column_width_fits_both_headers() -> None:
    from reports.workbook import Column

    assert column_width(Column("预计期末完成率", "Projected attainment", "x", 13)) >= len(
        "Projected attainment"
    )
    assert column_width(Column("地区", "Region", "x", 18)) == 18


def test_every_alert_names_its_division(publication: Publication, workbook_path: Path) -> None:
    book = load_workbook(workbook_path, read_only=True)
    for sheet in (s for s in book.worksheets if s.title.startswith(ALERTS_SHEET)):
        rows = list(sheet.iter_rows(values_only=True))
        division = rows[0].index("报送处室")
        assert len(rows) > 2
        empty = [r for r in rows[2:] if not r[division]]
        assert empty == [], (sheet.title, len(empty), empty[:3])


def test_statuses_are_coloured_as_in_the_report(loaded_workbook: Workbook) -> None:
    book = loaded_workbook
    for sheet in _progress_sheets(book):
        header = [c.value for c in sheet[1]]
        column = chr(ord("A") + header.index("年度状态"))
        rules = {
            rule.formula[0]: rule.dxf.fill.bgColor.rgb
            for ranges in sheet.conditional_formatting
            if str(ranges.sqref).startswith(f"{column}3:")
            for rule in ranges.rules
        }
        assert any("未达标" in f and c.endswith("FBE3E1") for f, c in rules.items()), (sheet.title, rules)
        assert any('"达标"' in f and c.endswith("E2F3E7") for f, c in rules.items()), (sheet.title, rules)


def test_latest_year_sheets_hold_the_latest_year_only(publication: Publication, workbook_path: Path) -> None:
    year = _latest_year(publication.snapshot)
    book = load_workbook(workbook_path, read_only=True)
    for sheet in book.worksheets:
        if not sheet.title.endswith(f" {year}") or sheet.title.startswith(ALERTS_SHEET):
            continue
        rows = list(sheet.iter_rows(values_only=True))
        if "年度" in rows[0]:
            years = {r[rows[0].index("年度")] for r in rows[2:]}
            assert years == {year}, (sheet.title, years)
