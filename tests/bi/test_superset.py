"""A real Apache Superset (from PyPI, in its own environment under the data directory) on the
published snapshot, as ``make bi`` sets it up: its REST API shows the database, datasets, charts
and dashboard; every chart's query returns the marts' figures; a new publication is seen without
restarting Superset; headless Chromium shows the dashboard with no error panel (screenshot kept
in the test's temporary directory and copied to ``$SCORECARD_BI_ARTIFACTS`` when set)."""

from __future__ import annotations

import base64
import json
import math
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scorecard import bi
from tests.bi.conftest import Published
from tests.report.browser import FLAGS, DevTools, _devtools_port, _page_ws_url, find_chromium
from warehouse.publish import open_snapshot, snapshot_path

pytestmark = [pytest.mark.bi, pytest.mark.slow]

CITIES = (
    "杭州市",
    "宁波市",
    "温州市",
    "嘉兴市",
    "湖州市",
    "绍兴市",
    "金华市",
    "衢州市",
    "舟山市",
    "台州市",
    "丽水市",
)
INDICES = ("精准保障指数", "幸福颐养指数", "人人慈善指数", "和谐自治指数", "暖心服务指数")
CHARTS = {
    "city_indices": "五大指数·设区市 Five indices by city",
    "province_progress": "全省指标进展 Province: progress against targets",
    "missed_targets": "未达标目标·按处室 Missed targets by department",
    "data_freshness": "数据新鲜度 Data freshness",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Running:
    superset: bi.Superset
    proc: subprocess.Popen[bytes]
    published: Published
    token: str = ""

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.superset.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method="POST" if body is not None else "GET",
        )
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{path}: HTTP {exc.code}: {exc.read().decode()[:3000]}") from exc

    def charts(self) -> dict[str, dict[str, Any]]:
        """Chart name -> chart (id, slice_name, datasource) as Superset lists them."""
        listed = self.api("/api/v1/chart/?q=(page_size:100)")["result"]
        return {c["slice_name"]: c for c in listed}

    def chart_data(self, name: str) -> list[dict[str, Any]]:
        """What the chart's saved query returns now (GET /api/v1/chart/<id>/data/)."""
        chart_id = self.charts()[CHARTS[name]]["id"]
        result = self.api(f"/api/v1/chart/{chart_id}/data/")["result"]
        assert len(result) == 1 and not result[0].get("error"), result
        return result[0]["data"]


@pytest.fixture(scope="module")
def superset(published: Published) -> Iterator[Running]:
    """``make bi``'s steps (scorecard.bi.prepare, start) on a free port of 127.0.0.1."""
    target = bi.superset_for(published.settings, free_port())
    bi.prepare(target, snapshot_path(published.settings))
    proc = bi.start(target, published.work / "superset.log")
    running = Running(target, proc, published)
    try:
        login = running.api(
            "/api/v1/security/login",
            {"username": bi.ADMIN_USER, "password": target.admin_password(), "provider": "db"},
        )
        running.token = login["access_token"]
        yield running
    finally:
        bi.stop(proc)


def marts(published: Published, sql: str) -> list[dict[str, Any]]:
    con = open_snapshot(settings=published.settings)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (
            a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
        )
    return a == b


def test_the_database_datasets_charts_and_dashboard_exist(superset: Running) -> None:
    databases = superset.api("/api/v1/database/")["result"]
    assert [d["database_name"] for d in databases] == ["scorecards 评价快照"]
    database = superset.api(f"/api/v1/database/{databases[0]['id']}/connection")["result"]
    assert database["sqlalchemy_uri"] == bi.snapshot_uri(snapshot_path(superset.published.settings))
    extra = json.loads(database["extra"])
    assert extra["engine_params"]["connect_args"] == {"read_only": True}
    assert database["allow_dml"] is False
    datasets = superset.api("/api/v1/dataset/?q=(page_size:100)")["result"]
    assert sorted(d["table_name"] for d in datasets) == sorted(CHARTS)
    # The datasets' columns carry the BI contract's labels.
    first = next(d for d in datasets if d["table_name"] == "province_progress")
    columns = {
        c["column_name"]: c["verbose_name"]
        for c in superset.api(f"/api/v1/dataset/{first['id']}")["result"]["columns"]
    }
    assert (
        columns["attainment_pct"] == "完成率 Attainment" and columns["year_status"] == "年度状态 Year status"
    )
    charts = superset.charts()
    assert sorted(charts) == sorted(CHARTS.values())
    dashboard = superset.api("/api/v1/dashboard/scorecards")["result"]
    assert dashboard["dashboard_title"] == "共同富裕评价 Common Prosperity Scorecard"
    on_dashboard = superset.api("/api/v1/dashboard/scorecards/charts")["result"]
    assert sorted(c["slice_name"] for c in on_dashboard) == sorted(CHARTS.values())


LATEST_INDEX_YEAR = (
    "(select max(year) from marts.fct_index_charity where region_level = 'city' and index_score is not null)"
)
LATEST_FINAL_YEAR = "(select max(year) from marts.fct_indicator_progress where status_basis = 'final')"
INDEX_TABLES = (
    "fct_index_precise_protection",
    "fct_index_elderly_care",
    "fct_index_charity",
    "fct_index_self_governance",
    "fct_index_warm_services",
)


def expected_city_indices(published: Published) -> dict[tuple[str, str], tuple[float, int, int, int]]:
    union = " union all ".join(
        "select zone_code, region_code, region_name_zh, region_level, year, index_score, rank_in_level, "
        f"rank_p05, rank_p95 "
        f"from marts.{t}"
        for t in INDEX_TABLES
    )
    rows = marts(
        published,
        f"select i.region_code || ' ' || i.region_name_zh as city, "
        f"cast(z.zone_no as varchar) || ' ' || z.index_name_zh as index_label, "
        "i.index_score, i.rank_in_level, i.rank_p05, i.rank_p95 "
        f"from ({union}) as i inner join marts.dim_zone as z on i.zone_code = z.zone_code "
        f"where i.region_level = 'city' and i.year = {LATEST_INDEX_YEAR}",
    )
    return {
        (r["city"], r["index_label"]): (r["index_score"], r["rank_in_level"], r["rank_p05"], r["rank_p95"])
        for r in rows
    }


def test_every_chart_returns_the_figures_in_the_marts(superset: Running) -> None:
    published = superset.published
    # 1. Five indices by city: cell by cell (11 cities x 5 indices: score, rank, rank interval).
    seen = {
        (r["city"], r["index_label"]): (
            r["指数 Index"],
            r["排名 Rank"],
            r["排名区间下限 Rank P05"],
            r["排名区间上限 Rank P95"],
        )
        for r in superset.chart_data("city_indices")
    }
    expected = expected_city_indices(published)
    assert len(expected) == 55 and sorted(seen) == sorted(expected)
    for key, (score, *ranks) in expected.items():
        assert same(seen[key][0], score) and list(seen[key][1:]) == ranks, (key, seen[key], (score, ranks))
        assert ranks[1] <= ranks[2], (key, ranks)
    assert {city.split(" ", 1)[1] for city, _ in seen} == set(CITIES)
    assert {label.split(" ", 1)[1] for _, label in seen} == set(INDICES)

    # 2. Province progress against targets: cell by cell.
    columns = ["measure_code", "year", "actual_value", "target_value", "attainment_pct", "year_status"]
    expected_rows = marts(
        published,
        f"select {', '.join('p.' + c for c in columns)}, m.name_zh as measure_name_zh "
        "from marts.fct_indicator_progress as p inner join marts.dim_measure as m "
        "on p.measure_code = m.measure_code "
        f"where p.region_level = 'province' and p.year = {LATEST_FINAL_YEAR} "
        "order by p.measure_code",
    )
    rows = superset.chart_data("province_progress")
    assert len(rows) == len(expected_rows) > 20
    for got, want in zip(rows, expected_rows, strict=True):
        for column, value in want.items():
            assert same(got[column], value), (want["measure_code"], column, got[column], value)

    # 3. Missed targets by department: the counts.
    counts = {
        r["department_name_zh"]: r["未达标数 Missed targets"] for r in superset.chart_data("missed_targets")
    }
    expected_counts = {
        r["name_zh"]: r["n"]
        for r in marts(
            published,
            "select d.name_zh, count(*) as n from marts.fct_indicator_progress as p "
            "inner join marts.dim_measure as m on p.measure_code = m.measure_code "
            "inner join marts.dim_department as d on m.department_code = d.department_code "
            f"where p.year_status = 'not_met' and p.year = {LATEST_FINAL_YEAR} group by d.name_zh",
        )
    }
    assert counts == expected_counts and sum(counts.values()) > 0

    # 4. Data freshness: the files per department and this publication's time.
    freshness = superset.chart_data("data_freshness")
    files = {
        r["name_zh"]: r["n"]
        for r in marts(
            published,
            "select d.name_zh, count(f.file_id) as n from marts.dim_department as d "
            "left join meta.source_files as f on d.department_code = f.department_code group by d.name_zh",
        )
    }
    assert {r["department_name_zh"]: r["file_count"] for r in freshness} == files
    (published_at,) = marts(published, "select epoch_ms(published_at) as ms from meta.publication")
    assert {r["published_at"] for r in freshness} == {published_at["ms"]}


def test_a_new_publication_is_seen_without_restarting_superset(superset: Running) -> None:
    """A corrected county value, published by the real pipeline, changes the province's PP01 figure
    in the chart at the next query; the same Superset process answers."""
    from scorecard.pipeline import run_pipeline

    published = superset.published
    before = {r["measure_code"]: r for r in superset.chart_data("province_progress")}
    old_run = marts(published, "select run_id from meta.publication")[0]["run_id"]
    pid = superset.proc.pid

    correction = published.work / "correction" / "social_assistance" / "correction.csv"
    correction.parent.mkdir(parents=True, exist_ok=True)
    # A plausible correction, in the canonical unit (yuan a year; the generated value is about
    # 13,150): a large jump is held back by the quality gate, and nothing would be published.
    correction.write_text(
        "region_code,measure_code,period,value\n330102,PP01,2025-Q4,13600\n", encoding="utf-8"
    )
    with pytest.MonkeyPatch.context() as mp:
        from tests.bi.conftest import set_env

        set_env(mp, published.home, published.work)
        result = run_pipeline([correction], published.settings)
    assert result.publication is not None and result.publication.published, [
        (s.name, s.ok, s.summary) for s in result.steps
    ]
    new_run = marts(published, "select run_id from meta.publication")[0]["run_id"]
    assert new_run != old_run

    after = {r["measure_code"]: r for r in superset.chart_data("province_progress")}
    (want,) = marts(
        published,
        "select actual_value from marts.fct_indicator_progress where region_code = '330000' "
        f"and measure_code = 'PP01' and year = {LATEST_FINAL_YEAR}",
    )
    assert not same(before["PP01"]["actual_value"], want["actual_value"]), "the correction changed nothing"
    assert same(after["PP01"]["actual_value"], want["actual_value"])
    assert superset.proc.poll() is None and superset.proc.pid == pid


def test_the_dashboard_shows_the_five_indices_for_the_eleven_cities(superset: Running) -> None:
    """Headless Chromium logs in, opens the dashboard, waits until every chart has drawn, and finds
    the 11 cities and 5 indices and no error panel; the screenshot is kept."""
    executable = find_chromium()
    assert executable, "chromium not found (make browser)"
    out_dir = superset.published.work / "artifacts"
    out_dir.mkdir(exist_ok=True)
    password = superset.superset.admin_password()
    with tempfile.TemporaryDirectory(prefix="bi-chromium-", ignore_cleanup_errors=True) as profile_dir:
        profile = Path(profile_dir)
        proc = subprocess.Popen(
            [
                executable,
                *FLAGS,
                # Nothing leaves the machine, whatever a page asks for.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                f"--user-data-dir={profile}",
                "--window-size=1600,2000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            tools = DevTools(_page_ws_url(_devtools_port(profile, proc)))
            try:
                for domain in ("Runtime.enable", "Page.enable", "Network.enable"):
                    tools.call(domain)
                tools.call(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": 1600, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
                )
                tools.call("Page.navigate", {"url": f"{superset.superset.url}/login/"})
                tools.wait_for("Page.loadEventFired", timeout=120)
                # Log in as a person does: type into the login form and press the button.
                wait_until(tools, "document.querySelector('[data-test=\"login-button\"]') !== null")
                for field, text in (("username", bi.ADMIN_USER), ("password", password)):
                    tools.evaluate(f"document.getElementById({json.dumps(field)}).focus()")
                    tools.call("Input.insertText", {"text": text})
                tools.evaluate("document.querySelector('[data-test=\"login-button\"]').click()")
                status = wait_until(tools, "!location.pathname.startsWith('/login')")
                assert status, "login failed: still on the login page after 120 s"
                tools.events.clear()
                tools.call("Page.navigate", {"url": superset.superset.dashboard_url})
                tools.wait_for("Page.loadEventFired", timeout=120)
                state = wait_for_dashboard(tools, deadline=time.monotonic() + 300)
                shot = tools.call("Page.captureScreenshot", {"format": "png"}, timeout=120)
                screenshot = out_dir / "superset-dashboard.png"
                screenshot.write_bytes(base64.b64decode(shot["data"]))
                # Superset 6.1's pages ask for a telemetry pixel; the content security policy that
                # `make bi` configures must block it before anything is sent.
                blocked = {
                    e["params"]["requestId"]: e["params"].get("blockedReason")
                    for e in tools.events
                    if e["method"] == "Network.loadingFailed"
                }
                local = (superset.superset.url, "data:", "blob:")
                outside = sorted(
                    {
                        (e["params"]["request"]["url"], blocked.get(e["params"]["requestId"]))
                        for e in tools.events
                        if e["method"] == "Network.requestWillBeSent"
                        and not e["params"]["request"]["url"].startswith(local)
                        and blocked.get(e["params"]["requestId"]) != "csp"
                    }
                )
                exceptions = [
                    e["params"]["exceptionDetails"].get("text", "")
                    for e in tools.events
                    if e["method"] == "Runtime.exceptionThrown"
                ]
            finally:
                tools.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    keep = os.environ.get("SCORECARD_BI_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(keep) / screenshot.name)
    assert outside == [], f"the dashboard asked for something outside Superset: {outside}"
    assert exceptions == []
    assert state["errors"] == [], state
    assert state["missing"] == [], state
    assert state["charts"] == len(CHARTS), state
    assert screenshot.stat().st_size > 20_000


DASHBOARD_STATE = """(() => {
  const text = document.body ? document.body.innerText : '';
  const want = %s;
  const errors = [...document.querySelectorAll(
      '.ant-alert-error, [data-test="error-message"], .error-alert, [role="alert"]')]
    .map(e => e.innerText.trim()).filter(t => t);
  return {
    charts: document.querySelectorAll('[data-test="chart-grid-component"]').length,
    loading: document.querySelectorAll('.loading, [data-test="loading-indicator"]').length,
    missing: want.filter(w => !text.includes(w)),
    errors,
  };
})()"""


def wait_until(tools: DevTools, condition: str, seconds: float = 120) -> bool:
    """Poll a JavaScript condition until it holds (True) or ``seconds`` passed (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if tools.evaluate(f"!!({condition})"):
            return True
        tools.drain(0.5)
    return False


def wait_for_dashboard(tools: DevTools, deadline: float) -> dict[str, Any]:
    """The dashboard's state once every chart drew (no spinner, the cities and indices shown), or
    at the deadline."""
    expression = DASHBOARD_STATE % json.dumps([*CITIES, *INDICES], ensure_ascii=False)
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:
        state = tools.evaluate(expression)
        if state["charts"] >= len(CHARTS) and not state["loading"] and not state["missing"]:
            tools.drain(2.0)  # let the last chart finish its animation
            return tools.evaluate(expression)
        tools.drain(1.0)
    return state
