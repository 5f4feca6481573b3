"""The report in a real browser: headless Chromium (Debian's package) opens it.

No console errors or uncaught exceptions, no network request (the report is offline), every chart
present and drawn with a size, the heat table sorts, and a screenshot is saved. Chromium is
installed by ``tests/report/ensure_chromium.sh`` in the test setup; when it is missing this test
FAILS (it never skips), because CI must exercise the browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.browser import ENSURE_SCRIPT, find_chromium, open_page
from tests.report.conftest import Publication
from tests.report.test_report import expected_charts

EXPRESSIONS = {
    "charts": "Array.from(document.querySelectorAll('svg.chart')).map(e => e.dataset.chart)",
    "sized": (
        "Array.from(document.querySelectorAll('svg.chart')).filter(e => {"
        " const r = e.getBoundingClientRect(); return r.width > 100 && r.height > 50; }).length"
    ),
    "drawn": (
        "Array.from(document.querySelectorAll('svg.chart')).filter(e =>"
        " e.querySelector('rect.bar, polyline.actual, circle.point')).length"
    ),
    "sections": "Array.from(document.querySelectorAll('section[id]')).map(e => e.id)",
    "heat_rows": "document.querySelectorAll('#heat-table tbody tr').length",
    "sorted_desc": (
        "(() => { const th = document.querySelectorAll('#heat-table thead th')[2]; th.click();"
        " const v = Array.from(document.querySelectorAll('#heat-table tbody tr'))"
        "   .map(r => parseFloat(r.cells[2].dataset.sort || '-1'));"
        " return v.every((x, i) => i === 0 || v[i - 1] >= x); })()"
    ),
    "title": "document.title",
}


def test_report_in_headless_chromium(publication: Publication, report_html: Path, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.fail(f"chromium is not installed: run {ENSURE_SCRIPT} (CI installs Debian's chromium package)")
    page = open_page(report_html, tmp_path / "screenshots", EXPRESSIONS)
    print(f"report screenshot: {page.screenshot} (first screen: {page.screenshot_top})")

    assert page.console_errors == []
    assert page.exceptions == []
    assert page.log_errors == []
    assert page.external_requests == []

    expected = expected_charts(publication.snapshot)
    charts = page.evaluations["charts"]
    assert sorted(charts) == sorted(expected)
    assert page.evaluations["sized"] == len(expected)
    assert page.evaluations["drawn"] == len(expected)
    assert page.evaluations["sections"] == [
        "indices",
        "trajectories",
        "counties",
        "missed",
        "alerts",
        "silences",
        "quality",
        "sources",
    ]
    assert page.evaluations["heat_rows"] == 90
    assert page.evaluations["sorted_desc"] is True
    assert "民政共同富裕评价报告" in page.evaluations["title"]

    assert page.screenshot is not None and page.screenshot.exists()
    data = page.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000


PHONE_EXPRESSIONS = {
    "scroll_width": "document.documentElement.scrollWidth",
    "client_width": "document.documentElement.clientWidth",
    # what sticks out of the page (not what scrolls inside its own box)
    "overflowing": (
        "Array.from(document.querySelectorAll('body *')).filter(e =>"
        " e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5"
        " && !e.parentElement.closest('.table-wrap, .chart-box, table.data'))"
        ".slice(0, 10).map(e => e.tagName + '.' + e.className"
        " + ' in #' + ((e.closest('section') || {}).id || ''))"
    ),
    # every chart label as drawn on the screen (font size times the chart's scale), in px
    "small_labels": (
        "(() => { const out = []; for (const svg of document.querySelectorAll('svg.chart')) {"
        " const k = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;"
        " for (const t of svg.querySelectorAll('text')) {"
        " const px = parseFloat(getComputedStyle(t).fontSize) * k;"
        " if (px < 10.95) out.push(svg.dataset.chart + ' ' + t.getAttribute('class')"
        " + ' ' + px.toFixed(1)); } }"
        " return out; })()"
    ),
    "kpis": "document.querySelectorAll('.kpi').length",
}


def test_report_on_a_390_px_phone(report_html: Path, tmp_path: Path) -> None:
    """A phone: the page never scrolls sideways (cards and tables wrap or scroll in their own box),
    and chart labels are drawn at 11 px or more."""
    if find_chromium() is None:
        pytest.fail(f"chromium is not installed: run {ENSURE_SCRIPT} (CI installs Debian's chromium package)")
    page = open_page(report_html, tmp_path / "phone", PHONE_EXPRESSIONS, width=390)
    print(f"phone screenshot: {page.screenshot_top}")
    assert page.console_errors == [] and page.exceptions == []
    values = page.evaluations
    assert values["client_width"] == 390
    assert values["scroll_width"] <= 390, values["overflowing"]
    assert values["overflowing"] == []
    assert values["small_labels"] == []
    assert values["kpis"] >= 3
