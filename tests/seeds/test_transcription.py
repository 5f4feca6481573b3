"""Independent check of the transcription of the four-systems list into the seeds.

The original (docs/source/four_systems_list.txt) is a table dump: every cell starts with a tab, a cell may
span several lines, and each table row has ten cells: zone title (empty when the zone continues),
indicator, the five annual targets 2021-2025, work system, policy system, evaluation system. This module
parses it on its own (it shares no code with whatever produced the seeds) and compares every figure.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "docs" / "source" / "four_systems_list.txt"
SOURCE_SHA256 = "dbd7861aaad450a75152d190aa372648c86307c52e51e9aaec0bef86a04dad6f"
SEEDS = REPO / "dbt_project" / "seeds"

YEARS = (2021, 2022, 2023, 2024, 2025)
CELLS_PER_ROW = 10
# zone name as it appears in 高水平打造<name>标杆区 -> zone code (docs/contracts.md, domain.md)
ZONE_CODES = {"精准保障": "PP", "幸福颐养": "EC", "人人慈善": "CH", "和谐自治": "SG", "暖心服务": "WS"}
# indicators whose annual series is carried by sub-measures (domain.md "Codes"); others use their own code
SERIES_MEASURES = {
    "PP03": ("PP03A", "PP03B", "PP03C"),
    "EC01": ("EC01A",),
    "EC03": ("EC03A",),
    "EC04": ("EC04A",),
    "CH01": ("CH01A",),
    "CH02": ("CH02A",),
    "SG01": ("SG01A",),
    "SG04": ("SG04A",),
    "WS04": ("WS04A",),
}
NUMBER = re.compile(r"^(\d+(?:\.\d+)?)(%?)$")
NUMBERED = re.compile(r"^(\d+)．(.*)$", re.S)


@dataclass
class YearCell:
    raw: str
    value: float | None = None  # None: "——" (no target) or text
    percent: bool = False
    text: str | None = None  # a non-numeric target (EC02)


@dataclass
class Indicator:
    code: str
    zone: str
    number: int
    wording: str
    years: dict[int, YearCell]


@dataclass
class Zone:
    code: str
    title: str
    work: list[str] = field(default_factory=list)
    policy: list[str] = field(default_factory=list)
    evaluation: str = ""


@dataclass
class Parsed:
    zones: dict[str, Zone]
    indicators: dict[str, Indicator]


def squash(text: str) -> str:
    """Remove all whitespace (cells wrap inside words, e.g. 评估\\n检查)."""
    return re.sub(r"\s+", "", text)


def parse_year_cell(raw: str) -> YearCell:
    text = squash(raw)
    if text in {"——", "—", ""}:
        return YearCell(raw)
    m = NUMBER.match(text)
    if m:
        return YearCell(raw, float(m.group(1)), bool(m.group(2)))
    return YearCell(raw, text=text)


def split_items(cell: str) -> list[str]:
    """Numbered items of a work/policy cell, without number and list terminator."""
    items: list[str] = []
    for line in cell.strip().splitlines():
        line = line.strip()
        if not line:
            continue
        m = NUMBERED.match(line)
        if m:
            assert int(m.group(1)) == len(items) + 1, f"item numbering broken at {line!r}"
            items.append(m.group(2).strip())
        else:  # continuation of the previous item
            items[-1] += line
    return [re.sub(r"[；;。]$", "", it) for it in items]


def parse(text: str) -> Parsed:
    cells = [c.strip() for c in text.split("\t")]
    start = next(i for i, c in enumerate(cells) if c.startswith("高水平打造"))
    body = cells[start:]
    assert len(body) % CELLS_PER_ROW == 0, f"{len(body)} cells is not a whole number of table rows"
    zones: dict[str, Zone] = {}
    indicators: dict[str, Indicator] = {}
    current: Zone | None = None
    for r in range(0, len(body), CELLS_PER_ROW):
        title, ind_cell, *year_cells = body[r : r + 7]
        work, policy, evaluation = body[r + 7 : r + 10]
        if title:
            m = re.fullmatch(r"高水平打造(.+)标杆区", title)
            assert m, f"unexpected zone title {title!r}"
            code = ZONE_CODES[m.group(1)]
            if current is None or code != current.code:
                assert code not in zones, f"zone {code} appears twice, not contiguously"
                current = zones[code] = Zone(code, title)
            # else: the zone name repeated after a page break; same zone
        assert current is not None
        if work or policy or evaluation:
            assert not current.work, f"second work/policy block in zone {current.code}"
            current.work, current.policy, current.evaluation = (
                split_items(work),
                split_items(policy),
                evaluation,
            )
        m = NUMBERED.match(ind_cell)
        assert m, f"indicator cell without number: {ind_cell!r}"
        number = int(m.group(1))
        code = f"{current.code}{number:02d}"
        assert code not in indicators, f"duplicate indicator {code}"
        indicators[code] = Indicator(
            code=code,
            zone=current.code,
            number=number,
            wording=m.group(2).strip(),
            years={y: parse_year_cell(c) for y, c in zip(YEARS, year_cells, strict=True)},
        )
    return Parsed(zones, indicators)


def expected_annual_targets(parsed: Parsed) -> dict[tuple[str, int], tuple[float, bool]]:
    """(measure_code, year) -> (value, is_percent) for every numeric annual target of the original."""
    out: dict[tuple[str, int], tuple[float, bool]] = {}
    for code, ind in parsed.indicators.items():
        for year, cell in ind.years.items():
            if cell.value is None:
                continue
            for measure in SERIES_MEASURES.get(code, (code,)):
                out[(measure, year)] = (cell.value, cell.percent)
    return out


def read_csv(name: str) -> list[dict[str, str]]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def target_problems(
    expected: dict[tuple[str, int], tuple[float, bool]],
    rows: list[dict[str, str]],
    units: dict[str, str],
) -> list[str]:
    """Differences between the original's annual targets and the annual rows of indicator_targets."""
    problems: list[str] = []
    seen: dict[tuple[str, int], float] = {}
    for row in rows:
        if row["target_type"] != "annual":
            continue
        key = (row["measure_code"], int(row["year"]))
        if key in seen:
            problems.append(f"duplicate annual row {key}")
        seen[key] = float(row["target_value"])
        if row["unit"] != units.get(row["measure_code"]):
            problems.append(
                f"{key}: unit {row['unit']!r} is not the measure's {units.get(row['measure_code'])!r}"
            )
    for key in sorted(expected.keys() - seen.keys()):
        problems.append(f"missing annual target {key} = {expected[key][0]}")
    for key in sorted(seen.keys() - expected.keys()):
        problems.append(f"annual target {key} = {seen[key]} is not in the original")
    for key in sorted(expected.keys() & seen.keys()):
        value, is_percent = expected[key]
        if seen[key] != value:
            problems.append(f"{key}: seed {seen[key]} != original {value}")
        if is_percent != (units.get(key[0]) == "percent"):
            problems.append(
                f"{key}: original is {'a' if is_percent else 'not a'} percentage, unit {units.get(key[0])}"
            )
    return problems


@pytest.fixture(scope="module")
def parsed() -> Parsed:
    return parse(SOURCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def measure_units() -> dict[str, str]:
    return {r["measure_code"]: r["unit"] for r in read_csv("measures")}


def test_source_copy_is_the_original() -> None:
    # SHA-256 of the programme's original as received (000_bc90f1fec38005ac.txt): the copy in the
    # repository has not been edited since.
    assert hashlib.sha256(SOURCE.read_bytes()).hexdigest() == SOURCE_SHA256


def test_parse_finds_five_zones_and_29_indicators(parsed: Parsed) -> None:
    assert list(parsed.zones) == ["PP", "EC", "CH", "SG", "WS"]
    per_zone = {z: sum(i.zone == z for i in parsed.indicators.values()) for z in parsed.zones}
    assert per_zone == {"PP": 6, "EC": 6, "CH": 3, "SG": 5, "WS": 9}
    assert len(parsed.indicators) == 29
    # numbering restarts in each zone and has no gaps
    for z, n in per_zone.items():
        assert [i.number for i in parsed.indicators.values() if i.zone == z] == list(range(1, n + 1))


def test_zones_seed_matches_original(parsed: Parsed) -> None:
    rows = read_csv("zones")
    assert [r["zone_code"] for r in rows] == list(parsed.zones)
    for r in rows:
        zone = parsed.zones[r["zone_code"]]
        assert r["zone_title_zh"] == zone.title
        assert r["name_zh"] in zone.title
        # the evaluation text names the index: 构建“精准保障”指数
        assert f"构建“{r['name_zh']}”指数" in zone.evaluation
        assert r["index_name_zh"] == f"{r['name_zh']}指数"


def test_indicators_seed_matches_original(parsed: Parsed) -> None:
    rows = read_csv("indicators")
    assert len(rows) == 29
    assert [r["indicator_code"] for r in rows] == list(parsed.indicators)
    for r in rows:
        ind = parsed.indicators[r["indicator_code"]]
        assert r["zone_code"] == ind.zone
        assert int(r["indicator_no"]) == ind.number
        assert r["name_zh"] == ind.wording, r["indicator_code"]


def test_every_annual_target_matches_original(parsed: Parsed, measure_units: dict[str, str]) -> None:
    expected = expected_annual_targets(parsed)
    assert target_problems(expected, read_csv("indicator_targets"), measure_units) == []


def test_annual_target_row_count(parsed: Parsed) -> None:
    expected = expected_annual_targets(parsed)
    rows = [r for r in read_csv("indicator_targets") if r["target_type"] == "annual"]
    assert len(rows) == len(expected)
    # 29 indicators x 5 years = 145 cells; minus EC02 (text, 5), EC05/EC06 2021 and WS04 2024/2025 ("——", 4);
    # plus PP03 carried by three measures (+10): 146
    assert len(expected) == 146


def test_no_target_where_original_has_dash(parsed: Parsed) -> None:
    keys = {(r["measure_code"], int(r["year"])) for r in read_csv("indicator_targets")}
    dashes = [
        (measure, year)
        for code, ind in parsed.indicators.items()
        for year, cell in ind.years.items()
        if squash(cell.raw) == "——"
        for measure in SERIES_MEASURES.get(code, (code,))
    ]
    assert sorted(dashes) == [("EC05", 2021), ("EC06", 2021), ("WS04A", 2024), ("WS04A", 2025)]
    assert not keys & set(dashes)


def test_milestone_targets_match_original_text(parsed: Parsed) -> None:
    ec02 = parsed.indicators["EC02"]
    assert all(cell.text for cell in ec02.years.values()), "EC02 should be text in every year"
    rows = {int(r["year"]): r for r in read_csv("milestone_targets") if r["measure_code"] == "EC02"}
    assert sorted(rows) == list(YEARS)
    for year, cell in ec02.years.items():
        assert squash(rows[year]["target_text_zh"]) == cell.text
    levels = {r["level_code"]: int(r["level_rank"]) for r in read_csv("milestone_levels")}
    ranks = [levels[rows[y]["target_level_code"]] for y in YEARS]
    assert ranks == sorted(ranks), "EC02 yearly target levels must not go backwards"
    assert rows[2025]["target_level_code"] == max(levels, key=levels.get)
    # no numeric target for a milestone
    assert not [r for r in read_csv("indicator_targets") if r["measure_code"] == "EC02"]


@pytest.mark.parametrize("kind", ["work", "policy"])
def test_work_and_policy_items_are_verbatim(parsed: Parsed, kind: str) -> None:
    rows = read_csv(f"{kind}_items")
    letter = "W" if kind == "work" else "P"
    for zone in parsed.zones.values():
        items = zone.work if kind == "work" else zone.policy
        assert items, f"no {kind} items parsed for {zone.code}"
        mine = [r for r in rows if r["zone_code"] == zone.code]
        assert [r["item_code"] for r in mine] == [
            f"{zone.code}-{letter}{n:02d}" for n in range(1, len(items) + 1)
        ]
        assert [r["text_zh"] for r in mine] == items
    assert len(rows) == sum(len(z.work if kind == "work" else z.policy) for z in parsed.zones.values())


def test_index_dimension_counts_follow_evaluation_text(parsed: Parsed) -> None:
    dims = read_csv("index_dimensions")
    per_zone = {z: [d for d in dims if d["zone_code"] == z] for z in parsed.zones}
    # the original states the number of aspects for two zones
    pp = re.search(r"等(\d+)个方面", parsed.zones["PP"].evaluation)
    ec = re.search(r"等(.)大核心业务", parsed.zones["EC"].evaluation)
    assert pp and ec
    assert len(per_zone["PP"]) == int(pp.group(1))
    assert len(per_zone["EC"]) == "一二三四五六七八九".index(ec.group(1)) + 1
    for z, zone_dims in per_zone.items():
        assert zone_dims, z
        # every aspect name is in the evaluation text, except where the original coordinates two aspects
        # ("达标率、覆盖率"), which the seed splits into two names
        text = squash(parsed.zones[z].evaluation)
        for d in zone_dims:
            name = squash(d["name_zh"])
            assert name in text or name.replace("示范点覆盖率", "示范点达标率、覆盖率") in text, (z, name)


# ---------------------------------------------------------------- the checks can fail


MUTATIONS = {
    "percent_as_fraction": lambda rows: _set(rows, "PP06", 2023, "0.995"),
    "off_by_one": lambda rows: _set(rows, "CH02A", 2025, "16"),
    "dropped_row": lambda rows: [r for r in rows if (r["measure_code"], r["year"]) != ("EC05", "2022")],
    "dash_filled": lambda rows: [*rows, {**rows[0], "measure_code": "EC05", "year": "2021", "unit": "count"}],
    "sub_measure_missing": lambda rows: [r for r in rows if r["measure_code"] != "PP03C"],
    "wrong_unit": lambda rows: [{**r, "unit": "count"} if r["measure_code"] == "WS09" else r for r in rows],
}


def _set(rows: list[dict[str, str]], measure: str, year: int, value: str) -> list[dict[str, str]]:
    out = [dict(r) for r in rows]
    hit = [r for r in out if r["measure_code"] == measure and r["year"] == str(year)]
    assert len(hit) == 1
    hit[0]["target_value"] = value
    return out


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_comparison_detects_mutated_seed(
    parsed: Parsed, measure_units: dict[str, str], mutation: str
) -> None:
    rows = read_csv("indicator_targets")
    expected = expected_annual_targets(parsed)
    assert target_problems(expected, rows, measure_units) == []
    assert target_problems(expected, MUTATIONS[mutation](rows), measure_units) != []


@pytest.mark.parametrize(
    ("old", "new"),
    [("\t99.5%\n", "\t99.6%\n"), ("\t1060\n", "\t1070\n"), ("\t——\n\t10\n", "\t5\n\t10\n")],
)
def test_comparison_detects_mutated_source(measure_units: dict[str, str], old: str, new: str) -> None:
    text = SOURCE.read_text(encoding="utf-8")
    assert text.count(old) == 1
    mutated = parse(text.replace(old, new))
    assert (
        target_problems(expected_annual_targets(mutated), read_csv("indicator_targets"), measure_units) != []
    )
