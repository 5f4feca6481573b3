"""The HTML report: self-contained, every section and chart present, figures equal to the marts."""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reports.charts import heat_colour, nice_ticks
from reports.formatting import fmt_number
from reports.html import write_report
from reports.queries import connect_snapshot
from tests.report.conftest import Publication

SECTIONS = ("indices", "trajectories", "counties", "missed", "alerts", "quality", "sources")
#: The report of the shared sample publication as the code rendered it before the split of
#: reports/html.py into queries, charts and templates (issue #21), normalised (see
#: ``normalised_report``). A change of the report's output shows here as a diff.
GOLDEN_REPORT = Path(__file__).with_name("golden") / "report.normalised.html"


def expected_charts(snapshot: Path) -> set[str]:
    """The charts the report must draw, from the marts (independently of the report's code)."""
    con = connect_snapshot(snapshot)
    try:
        zones = [r[0] for r in con.execute("select zone_code from marts.dim_zone").fetchall()]
        measures = [
            r[0]
            for r in con.execute(
                "select distinct measure_code from marts.fct_indicator_progress "
                "where region_level = 'province' and target_value is not null"
            ).fetchall()
        ]
    finally:
        con.close()
    return {"province-indices", *(f"city-ranking-{z}" for z in zones), *(f"trajectory-{m}" for m in measures)}


def chart_ids(document: str) -> list[str]:
    return re.findall(r'<svg class="chart" data-chart="([^"]+)"', document)


def test_report_is_self_contained(report_html: Path) -> None:
    document = report_html.read_text(encoding="utf-8")
    assert report_html.name == "report.html"
    assert document.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in document
    # nothing is fetched: no external scripts, styles, images, fonts
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", document)
    assert "@import" not in document and "url(" not in document
    urls = set(re.findall(r"https?://[^\s\"'<>]+", document))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    for section in SECTIONS:
        assert f'<section id="{section}">' in document, section


def test_every_chart_is_drawn(publication: Publication, report_html: Path) -> None:
    ids = chart_ids(report_html.read_text(encoding="utf-8"))
    expected = expected_charts(publication.snapshot)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    assert len(expected) >= 1 + 5 + 29  # the province, five rankings, at least one series per indicator


def test_province_indices_and_city_ranking_equal_the_marts(
    publication: Publication, report_html: Path
) -> None:
    document = report_html.read_text(encoding="utf-8")
    con = connect_snapshot(publication.snapshot)
    try:
        zones = con.execute(
            "select zone_code, index_name_zh, index_fact_table from marts.dim_zone"
        ).fetchall()
        for code, index_name_zh, table in zones:
            year = con.execute(
                f'select max(year) from marts."{table}" where index_score is not null'
            ).fetchone()[0]
            province = con.execute(
                f"select index_score from marts.\"{table}\" where region_level = 'province' and year = ?",
                [year],
            ).fetchone()[0]
            province_chart = re.search(r'data-chart="province-indices".*?</svg>', document, re.S).group(0)
            assert f"<title>{index_name_zh} " in province_chart
            assert f": {fmt_number(province, 1)}</title>" in province_chart
            cities = con.execute(
                f'select r.name_zh from marts."{table}" as f join marts.dim_region as r using (region_code) '
                "where f.region_level = 'city' and f.year = ? order by f.rank_in_level, f.region_code",
                [year],
            ).fetchall()
            chart = re.search(rf'data-chart="city-ranking-{code}".*?</svg>', document, re.S).group(0)
            drawn = re.findall(r'<text [^>]*class="name">([^ <]+) ', chart)
            assert drawn == [c[0] for c in cities], code
    finally:
        con.close()


def test_rankings_show_rank_intervals_top_movers_and_the_cities_range(
    publication: Publication, report_html: Path
) -> None:
    """Beside each ranking: every city's p05-p95 rank interval and the two dimensions that moved its
    index most (fct_index_score_changes); the province's bars carry the cities' range; the report
    says that overlapping intervals are not distinguishable."""
    document = report_html.read_text(encoding="utf-8")
    assert "名次区间重叠的地区无法区分先后" in document
    assert "ranks whose intervals overlap are not distinguishable" in document
    tables = re.findall(r'<table class="data compact rank-intervals">.*?</table>', document, re.S)
    con = connect_snapshot(publication.snapshot)
    try:
        zones = con.execute(
            "select zone_code, index_fact_table from marts.dim_zone order by zone_no"
        ).fetchall()
        assert len(tables) == len(zones) == 5
        province_chart = re.search(r'data-chart="province-indices".*?</svg>', document, re.S).group(0)
        for (code, table), html_table in zip(zones, tables, strict=True):
            year = con.execute(
                f'select max(year) from marts."{table}" where index_score is not null'
            ).fetchone()[0]
            cities = con.execute(
                f"select r.name_zh, f.region_code, f.rank_p05, f.rank_p95, f.index_score "
                f'from marts."{table}" as f join marts.dim_region as r using (region_code) '
                "where f.region_level = 'city' and f.year = ? order by f.rank_in_level, f.region_code",
                [year],
            ).fetchall()
            rows = re.findall(
                r"<tr><td>[^<]*</td><td>([^<]+)</td><td>([^<]+)</td><td>(.*?)</td></tr>", html_table
            )
            assert [r[0] for r in rows] == [c[0] for c in cities], code
            for (name, region, p05, p95, _), (_, interval, movers) in zip(cities, rows, strict=True):
                assert interval == (str(p05) if p05 == p95 else f"{p05}–{p95}"), (code, name)
                top = con.execute(
                    "select dimension_name_zh, contribution from marts.fct_index_score_changes "
                    "where zone_code = ? and region_code = ? and year = ? and mover_rank <= 2 "
                    "and contribution <> 0 order by mover_rank",
                    [code, region, year],
                ).fetchall()
                assert top, (code, name)
                shown = re.findall(
                    r"(?:^|<br>)([^<]+?) <span class=\"(?:up|down)\">([+-][0-9.]+)</span>", movers
                )
                assert [(n, float(v)) for n, v in shown] == [(n, round(c, 1)) for n, c in top], (code, name)
            scores = [c[4] for c in cities if c[4] is not None]
            assert (
                f"range of the cities: {fmt_number(min(scores), 1)} – {fmt_number(max(scores), 1)}</title>"
                in province_chart
            ), code
    finally:
        con.close()


def test_missed_targets_count_equals_the_marts(publication: Publication, report_html: Path) -> None:
    document = report_html.read_text(encoding="utf-8")
    con = connect_snapshot(publication.snapshot)
    try:
        year = con.execute(
            "select max(year) from marts.fct_indicator_progress where year_status in ('met', 'not_met')"
        ).fetchone()[0]
        missed = con.execute(
            "select count(*) from marts.fct_indicator_progress where year = ? and year_status = 'not_met'",
            [year],
        ).fetchone()[0]
        missed += con.execute(
            "select count(*) from marts.fct_milestone_status where year = ? and year_status = 'not_met'",
            [year],
        ).fetchone()[0]
        alerts = con.execute("select count(*) from marts.fct_alerts").fetchone()[0]
    finally:
        con.close()
    assert missed > 0
    assert f"未达标 {missed:,} 项" in document
    assert f"{missed:,} missed" in document
    assert f"共 {alerts:,} 条预警" in document


def test_quality_and_manifest_sections(publication: Publication, report_html: Path) -> None:
    document = report_html.read_text(encoding="utf-8")
    manifest = publication.manifest
    assert manifest["run_id"] in document
    results = manifest["checks"]["results"]
    assert f"全部检查（{len(results)} 项）" in document
    files = manifest["source_files"]
    assert files
    assert f"依据以下 {len(files)} 份报送文件" in document
    for f in files[:5]:
        assert f["file_name"] in document
        assert f"{f['sha256'][:12]}</code>" in document


def test_manifest_falls_back_to_the_snapshot_meta(publication: Publication, tmp_path: Path) -> None:
    """Without a manifest argument or manifest.json beside it, the snapshot's meta tables are used."""
    alone = tmp_path / "alone" / "scorecards.duckdb"
    alone.parent.mkdir()
    shutil.copyfile(publication.snapshot, alone)
    document = write_report(alone, tmp_path / "out").read_text(encoding="utf-8")
    assert publication.manifest["run_id"] in document
    assert f"依据以下 {len(publication.manifest['source_files'])} 份报送文件" in document


def test_hostile_text_is_escaped(hostile_snapshot: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(hostile_snapshot.read_bytes()).hexdigest()
    document = write_report(hostile_snapshot, tmp_path / "out").read_text(encoding="utf-8")
    assert "<script>x()</script>" not in document
    assert "&lt;script&gt;x()&lt;/script&gt;" in document
    assert hashlib.sha256(hostile_snapshot.read_bytes()).hexdigest() == before


def test_helpers() -> None:
    assert nice_ticks(0, 100, 5) == [0, 20, 40, 60, 80, 100]
    ticks = nice_ticks(9.3, 13.7, 4)
    assert ticks[0] <= 9.3 and ticks[-1] >= 13.7
    assert fmt_number(12345.678) == "12,346" and fmt_number(-0.001, 1) == "0.0" and fmt_number(None) == "—"
    assert heat_colour(None, 0, 100) == "#eeeeee"
    assert heat_colour(0, 0, 100) != heat_colour(100, 0, 100)


def _kpis(document: str) -> dict[str, str]:
    """The headline's key figures: English label -> value."""
    found = re.findall(
        r'<div class="kpi [a-z]+"><div class="v">([^<]*)</div>'
        r'<div class="k">[^<]*<br><span class="en">([^<]*)</span>',
        document,
    )
    return {label: value for value, label in found}


def test_the_headline_is_about_the_current_year_in_beijing_time(
    publication: Publication, report_html: Path
) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    document = report_html.read_text(encoding="utf-8")
    con = connect_snapshot(publication.snapshot)
    try:
        (year,) = con.execute(
            "select max(year) from marts.fct_indicator_progress where year_status in ('met', 'not_met')"
        ).fetchone()
        alerts_now, alerts_all = con.execute(
            "select count(*) filter (where year = ?), count(*) from marts.fct_alerts", [year]
        ).fetchone()
        met, assessed = con.execute(
            "select count(*) filter (where year_status = 'met'), count(*) filter (where year_status in"
            " ('met', 'not_met')) from marts.fct_indicator_progress"
            " where year = ? and region_level = 'province'",
            [year],
        ).fetchone()
    finally:
        con.close()
    kpis = _kpis(document)
    assert alerts_now < alerts_all  # the history would be a different figure
    assert kpis[f"alerts {year}"] == f"{alerts_now:,}", kpis
    assert kpis[f"province targets met {year}"] == f"{met} / {assessed}", kpis
    published = datetime.fromisoformat(publication.manifest["published_at"]).astimezone(
        ZoneInfo("Asia/Shanghai")
    )
    assert f"{published:%Y-%m-%d %H:%M} 北京时间 (UTC+08:00)" in document


def test_the_demo_lists_cities_in_the_official_order_and_agrees_with_the_report(
    publication: Publication, report_html: Path, monkeypatch
) -> None:
    from scorecard.core.settings import get_settings
    from scorecard.demo import summarise

    monkeypatch.setenv("SCORECARD_HOME", str(publication.home))
    text = summarise(get_settings(), publication.manifest, "http://127.0.0.1:8080", {})
    official = ["杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水"]
    listed = [line[:2] for line in text.splitlines() if line[:2] in official]
    assert listed == official, text
    kpis = _kpis(report_html.read_text(encoding="utf-8"))
    (label,) = [k for k in kpis if k.startswith("province targets met ")]
    year = label.rsplit(" ", 1)[1]
    assert f"targets met {year} 达标: province {kpis[label].replace(' ', '')}" in text, text


def pinned_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """The publication's manifest with what differs from one session's build to the next pinned:
    the times of the run (publication, the gate's run, each file's receipt: the loader stamps the
    wall-clock time of day) and the files' SHA-256 (the XLSX writer stamps a creation time into
    each generated workbook). Everything else is the session's real manifest."""
    pinned = copy.deepcopy(manifest)
    pinned["published_at"] = "2026-01-15T09:00:00+00:00"
    pinned["checks"]["run_id"] = "20260115T085900-golden"
    pinned["checks"]["checked_at"] = "2026-01-15T08:59:00+00:00"
    for f in pinned["source_files"]:
        minute, second = divmod(int(f["file_id"]), 60)
        f["received_at"] = f"2026-01-15 08:{minute:02d}:{second:02d}.000000"
        f["sha256"] = hashlib.sha256(f["file_name"].encode()).hexdigest()
    return pinned


def normalised_report(publication: Publication, out: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The report of the session's publication, rendered from the pinned manifest with one alert
    silence that never expires; the footer's render time is the one thing replaced in the output.
    A line break follows every ``>`` so that a difference reads as a short diff (the break is
    added after each ``>``, nothing is removed: two documents differ here iff they differ)."""
    silences = out / "silences.yml"
    silences.parent.mkdir(parents=True, exist_ok=True)
    silences.write_text(
        "silences:\n"
        '  - matchers: {kind: target_missed, measure: EC05, region: "3301*"}\n'
        "    expires: 2999-12-31T00:00:00+08:00\n"
        "    created_by: 张三 (养老服务处)\n"
        "    comment: 指标口径调整中 <checked> & \"quoted\" 'text'\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SCORECARD_ALERT_SILENCES", str(silences))
    document = write_report(publication.snapshot, out, pinned_manifest(publication.manifest)).read_text(
        encoding="utf-8"
    )
    document, replaced = re.subn(
        r"Generated by the publication step at [0-9T:+-]+ ·",
        "Generated by the publication step at <render time> ·",
        document,
    )
    assert replaced == 1
    return document.replace(">", ">\n")


def test_the_report_of_the_sample_publication_equals_its_golden_copy(
    publication: Publication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No change of the report's output goes unnoticed: the sample publication's report, byte for
    byte after normalisation, is the golden copy. A deliberate change of the report updates the
    golden copy in the same commit (copy the file the failure names over it and read the diff)."""
    document = normalised_report(publication, tmp_path / "out", monkeypatch)
    actual = tmp_path / "report.normalised.html"
    actual.write_text(document, encoding="utf-8")
    assert GOLDEN_REPORT.exists(), f"no golden copy; the current rendering is {actual}"
    golden = GOLDEN_REPORT.read_text(encoding="utf-8")
    assert document == golden, f"the report differs from {GOLDEN_REPORT}: diff it against {actual}"


def snapshot_in_reverse_order(snapshot: Path, copy: Path) -> Path:
    """A copy of ``snapshot`` whose every ``marts`` table holds its rows in the reverse order."""
    copy.parent.mkdir(parents=True)
    shutil.copyfile(snapshot, copy)
    copy.chmod(0o600)
    with duckdb.connect(str(copy)) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        ]
        for table in tables:
            con.execute(
                f'create table marts."{table}__reversed" as select * from marts."{table}" order by rowid desc'
            )
            con.execute(f'drop table marts."{table}"')
            con.execute(f'alter table marts."{table}__reversed" rename to "{table}"')
    return copy


def test_the_report_does_not_depend_on_the_order_of_the_snapshots_rows(
    publication: Publication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ties (counties without an attainment, the stages reached of a milestone) are broken by the
    report's own ordering, not by the order in which DuckDB returns the rows of a table: the same
    snapshot with every mart's rows stored in reverse gives the same report."""
    reversed_snapshot = snapshot_in_reverse_order(
        publication.snapshot, tmp_path / "rev" / "scorecards.duckdb"
    )
    as_published = normalised_report(publication, tmp_path / "out", monkeypatch)
    reversed_publication = Publication(
        publication.home, reversed_snapshot.parent, reversed_snapshot, publication.manifest
    )
    assert normalised_report(reversed_publication, tmp_path / "out-rev", monkeypatch) == as_published
