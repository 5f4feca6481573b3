"""CSV-level checks of the reference seeds, and one run of the real dbt over them."""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from scorecard.core.settings import Settings
from warehouse.dbt import run_dbt

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "dbt_project" / "seeds"
CONTRACTS = REPO / "docs" / "contracts.md"
# Committed copies (tests read only the repository): an engineer's reading of the list, and the
# reference divisions and census population the region seeds were taken from.
DOMAIN = REPO / "docs" / "domain.md"
REFERENCE = REPO / "docs" / "source" / "reference"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def seed(name: str) -> list[dict[str, str]]:
    return read_csv(SEEDS / f"{name}.csv")


def header(name: str) -> list[str]:
    with (SEEDS / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh))


def contract_columns() -> dict[str, list[str]]:
    """Seed -> columns, from the table in docs/contracts.md (annotations in parentheses dropped)."""
    out: dict[str, list[str]] = {}
    for line in CONTRACTS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*`(\w+)`\s*\|[^|]*\|(.*)\|\s*$", line)
        if not m:
            continue
        cols = re.sub(r"\([^)]*\)", "", m.group(2))
        out[m.group(1)] = [c.strip() for c in cols.split(",") if c.strip()]
    return out


CONTRACT = contract_columns()
TRUE_FALSE = {"true", "false"}


def test_contract_table_was_read() -> None:
    # 14 + measure_value_ranges (#23) + target_scope and target_allocations for count_target_allocation (#16)
    # + region_aliases (#20)
    assert len(CONTRACT) == 17
    assert CONTRACT["regions"][:3] == ["region_code", "name_zh", "name_en"]


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_seed_columns_follow_contract(name: str) -> None:
    cols = header(name)
    contract = CONTRACT[name]
    # the contract's columns first, in order; extra columns may only be appended
    assert cols[: len(contract)] == contract
    assert len(set(cols)) == len(cols)


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_every_seed_and_column_is_documented(name: str) -> None:
    import yaml

    by_name = {
        s["name"]: s
        for path in sorted(SEEDS.glob("*.yml"))
        for s in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("seeds", [])
    }
    s = by_name[name]
    assert s.get("description")
    described = {c["name"]: c.get("description") for c in s["columns"]}
    assert set(described) == set(header(name))
    assert all(described.values())
    types = s["config"]["column_types"]
    assert set(types) == set(header(name))
    for col in header(name):
        if col.endswith("_code") or col in {"region_levels", "unit"}:
            assert types[col] == "varchar", (name, col)
        if col == "year" or col.endswith("_year"):
            assert types[col] == "integer", (name, col)


def test_booleans_are_true_false() -> None:
    for name, cols in {
        "measures": ["is_cumulative", "has_annual_targets"],
        "status_vocabulary": ["is_complete"],
        "region_population": ["is_estimate", "resident_is_estimate", "elderly_is_estimate"],
    }.items():
        for r in seed(name):
            for c in cols:
                assert r[c] in TRUE_FALSE, (name, c, r[c])


# ---------------------------------------------------------------- regions and population


@pytest.fixture(scope="module")
def reference_dir() -> Path:
    return REFERENCE


def test_regions_match_reference_divisions(reference_dir: Path) -> None:
    ref = read_csv(reference_dir / "zhejiang_divisions.csv")
    regions = seed("regions")
    assert [r["region_code"] for r in regions] == [r["code"] for r in ref]
    levels = defaultdict(list)
    for r in regions:
        assert re.fullmatch(r"33\d{4}", r["region_code"]), r["region_code"]
        levels[r["region_level"]].append(r)
    assert (len(levels["province"]), len(levels["city"]), len(levels["county"])) == (1, 11, 90)
    by_code = {r["code"]: r for r in ref}
    codes = {r["region_code"] for r in regions}
    for r in regions:
        src = by_code[r["region_code"]]
        assert r["name_zh"] == src["name_zh"]
        assert r["region_level"] == src["level"]
        assert r["parent_code"] == src["parent_code"]
        assert int(r["township_count"]) == int(src["n_township_total"])
        assert (int(r["jiedao_count"]), int(r["zhen_count"]), int(r["xiang_count"])) == (
            int(src["n_jiedao"]),
            int(src["n_zhen"]),
            int(src["n_xiang"]),
        )
        assert "2022-10-31" in r["source"]
        if r["region_level"] == "province":
            assert r["city_code"] == ""
        elif r["region_level"] == "city":
            assert r["city_code"] == r["region_code"]
        else:
            assert r["city_code"] == r["parent_code"] and r["city_code"] in codes
    # counties add up to their city's township count, cities to the province's
    for parent in levels["province"] + levels["city"]:
        children = [r for r in regions if r["parent_code"] == parent["region_code"]]
        assert sum(int(c["township_count"]) for c in children) == int(parent["township_count"])


def test_population_census_figures_copied(reference_dir: Path) -> None:
    ref = read_csv(reference_dir / "zhejiang_population.csv")
    census = {r["code"]: r for r in ref if r["year"] == "2020" and r["metric"] == "resident_pop_census7"}
    elderly = {r["code"]: r for r in ref if r["year"] == "2020" and r["metric"] == "pop_60plus_census7"}
    pop = {r["region_code"]: r for r in seed("region_population") if r["year"] == "2020"}
    assert len(census) == 12
    for code, r in census.items():
        assert int(pop[code]["resident_population"]) == int(r["value"])
        assert pop[code]["resident_is_estimate"] == "false"
        assert r["source"] in pop[code]["source"]
    for code, r in elderly.items():
        assert int(pop[code]["elderly_population"]) == int(r["value"])
        assert pop[code]["elderly_is_estimate"] == "false"


def test_population_estimates_add_up() -> None:
    regions = {r["region_code"]: r for r in seed("regions")}
    pop = {r["region_code"]: r for r in seed("region_population") if r["year"] == "2020"}
    assert set(pop) == set(regions), "every region has a 2020 row"
    for code, reg in regions.items():
        row = pop[code]
        assert row["method"] and row["source"]
        assert row["is_estimate"] == (
            "true" if "true" in (row["resident_is_estimate"], row["elderly_is_estimate"]) else "false"
        )
        if reg["region_level"] == "county":
            assert row["is_estimate"] == "true"
        children = [c for c, r in regions.items() if r["parent_code"] == code]
        if not children:
            continue
        for col in ("resident_population", "elderly_population"):
            assert sum(int(pop[c][col]) for c in children) == int(row[col]), (code, col)
    for row in pop.values():
        share = int(row["elderly_population"]) / int(row["resident_population"])
        assert 0.10 < share < 0.30, row["region_code"]


# ---------------------------------------------------------------- measures


@pytest.fixture(scope="module")
def measures() -> dict[str, dict[str, str]]:
    return {r["measure_code"]: r for r in seed("measures")}


def test_every_measure_of_domain_present(measures: dict[str, dict[str, str]]) -> None:
    domain = DOMAIN.read_text(encoding="utf-8")
    codes_section = domain.split("## Codes", 1)[1].split("\n## ", 1)[0]
    sub_measures = set(re.findall(r"`([A-Z]{2}\d{2}[A-C])`", codes_section))
    assert len(sub_measures) == 21
    indicators = {r["indicator_code"] for r in seed("indicators")}
    with_subs = {m[:4] for m in sub_measures}
    expected = sub_measures | (indicators - with_subs)
    indicator_measures = {c for c, m in measures.items() if m["indicator_code"]}
    assert indicator_measures == expected
    assert not with_subs & set(measures), "an indicator with sub-measures has no bare-code measure"
    for code, m in measures.items():
        if m["indicator_code"]:
            assert code.startswith(m["indicator_code"])


def test_evaluation_only_measures(measures: dict[str, dict[str, str]]) -> None:
    evals = {c: m for c, m in measures.items() if not m["indicator_code"]}
    assert evals, "the indices need evaluation-only measures"
    zones = {r["zone_code"] for r in seed("zones")}
    for code, m in evals.items():
        assert re.fullmatch(r"(PP|EC|CH|SG|WS)E\d{2}", code)
        assert m["zone_code"] == code[:2] in zones
        assert m["has_annual_targets"] == "false"
    assert {"PPE01", "PPE02"} <= set(evals)
    assert "归集" in evals["PPE01"]["name_zh"]


def test_measure_kinds_as_specified(measures: dict[str, dict[str, str]]) -> None:
    def kind(code: str) -> tuple[str, str, str]:
        m = measures[code]
        return m["measure_kind"], m["direction"], m["value_scale"]

    assert kind("EC01C") == ("ratio", "lower_is_better", "1")
    assert kind("WS09") == ("ratio", "higher_is_better", "100")
    for code, level in {"PP05": "city", "SG01B": "city", "CH02B": "city", "EC03C": "county"}.items():
        m = measures[code]
        assert (m["measure_kind"], m["rollup_rule"], m["condition_level"]) == (
            "regions_meeting",
            "count_meeting",
            level,
        )
        assert float(m["condition_threshold"]) == 1
    assert (measures["EC02"]["measure_kind"], measures["EC02"]["submitted_via"]) == ("milestone", "status")
    densities = {
        "EC01A": ("10000", "elderly"),
        "EC04B": ("10000", "elderly"),
        "CH01B": ("100000", "resident"),
        "SG02": ("10000", "resident"),
        "SG04A": ("1000000", "resident"),
    }
    for code, (scale, base) in densities.items():
        m = measures[code]
        assert (m["measure_kind"], m["value_scale"], m["population_base"]) == ("density", scale, base)
    assert {c for c, m in measures.items() if m["measure_kind"] == "density"} == set(densities)
    for code in ("PP01", "PP02"):
        assert (measures[code]["measure_kind"], measures[code]["rollup_rule"]) == ("level", "mean_with_min")
    for m in measures.values():
        if m["measure_kind"] == "rate":
            assert (m["unit"], m["value_scale"], m["rollup_rule"]) == ("percent", "100", "ratio_of_sums")
        assert set(m["region_levels"].split("|")) <= {"county", "city", "province"}
        assert "province" in m["region_levels"].split("|")


def test_departments_and_owners(measures: dict[str, dict[str, str]]) -> None:
    depts = {r["department_code"]: r for r in seed("departments")}
    assert set(depts) == {
        "social_assistance",
        "child_welfare",
        "social_welfare",
        "elderly_care",
        "charity_social_work",
        "community_governance",
        "social_affairs",
        "place_names",
        "resettlement",
    }
    for d in depts.values():
        assert d["reporting_frequency"] in {"annual", "quarterly"}
        assert int(d["deadline_days_after_period_end"]) > 0
        assert d["deadline_rule_text"]
    for name in ("indicators", "measures"):
        for r in seed(name):
            assert r["department_code"] in depts
    for name in ("work_items", "policy_items"):
        for r in seed(name):
            assert r["owner_department"] in depts
            assert int(r["due_year"]) == 2025
    # domain.md's split for the indicators
    owners = {r["indicator_code"]: r["department_code"] for r in seed("indicators")}
    assert owners["PP02"] == owners["PP05"] == owners["WS01"] == "child_welfare"
    assert owners["PP06"] == "social_welfare"
    assert owners["SG02"] == owners["SG04"] == "charity_social_work"
    assert owners["WS09"] == "resettlement"
    items = {r["item_code"]: r["owner_department"] for r in seed("work_items") + seed("policy_items")}
    assert items["PP-W04"] == items["PP-P05"] == "child_welfare"


# ---------------------------------------------------------------- targets


END_OF_PLAN = {
    # measure: (value, a string the indicator's wording must contain for it)
    "EC01B": (18, "18%以上"),
    "EC01C": (60, "每60张床位配备1名社会工作者"),
    "EC03B": (100, "居家服务中心全覆盖"),
    "EC03C": (90, "县（市、区）全覆盖"),
    "EC04B": (20, "20张认知障碍床位"),
    "CH01B": (2, "每10万人拥有慈善组织数量达到2家"),
    "CH02B": (11, "设区市实现全覆盖"),
    "SG01B": (11, "每个设区市至少有一个县"),
    "SG04B": (100, "志愿服务站点全覆盖"),
    "WS04B": (100, "节地生态安葬点达到100%"),
}


def test_end_of_plan_targets(measures: dict[str, dict[str, str]]) -> None:
    wording = {r["indicator_code"]: r["name_zh"] for r in seed("indicators")}
    rows = [r for r in seed("indicator_targets") if r["target_type"] == "end_of_plan"]
    got = {r["measure_code"]: (float(r["target_value"]), int(r["year"])) for r in rows}
    assert len(rows) == len(got) == len(END_OF_PLAN)
    n_cities = sum(r["region_level"] == "city" for r in seed("regions"))
    n_counties = sum(r["region_level"] == "county" for r in seed("regions"))
    for code, (value, phrase) in END_OF_PLAN.items():
        assert got[code] == (value, 2025), code
        assert phrase in wording[measures[code]["indicator_code"]], code
        assert measures[code]["has_annual_targets"] == "false"
    assert got["EC03C"][0] == n_counties and got["CH02B"][0] == got["SG01B"][0] == n_cities


def test_targets_consistent_with_measures(measures: dict[str, dict[str, str]]) -> None:
    targets = seed("indicator_targets")
    for r in targets:
        m = measures[r["measure_code"]]
        assert r["unit"] == m["unit"]
        assert 2021 <= int(r["year"]) <= 2025
        if m["measure_kind"] == "rate":
            assert 0 <= float(r["target_value"]) <= 100
    annual = {r["measure_code"] for r in targets if r["target_type"] == "annual"}
    has_annual = {c for c, m in measures.items() if m["has_annual_targets"] == "true"}
    # milestone measures have their yearly targets in milestone_targets
    milestones = {c for c, m in measures.items() if m["measure_kind"] == "milestone"}
    assert has_annual == annual | milestones
    assert milestones == {r["measure_code"] for r in seed("milestone_targets")}


def test_status_vocabulary() -> None:
    rows = seed("status_vocabulary")
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["item_kind"]].append(r)
    for items in by_kind.values():
        ranks = [int(r["status_rank"]) for r in items]
        assert sorted(ranks) == list(range(1, len(items) + 1))
        top = max(items, key=lambda r: int(r["status_rank"]))
        assert [r["status_code"] for r in items if r["is_complete"] == "true"] == [top["status_code"]]
    assert [r["status_code"] for r in by_kind["work"]] == ["planned", "in_progress", "done"]
    assert [r["status_code"] for r in by_kind["policy"]] == ["planned", "drafting", "issued"]
    levels = sorted(seed("milestone_levels"), key=lambda r: int(r["level_rank"]))
    assert [(r["status_code"], r["status_rank"], r["name_zh"]) for r in by_kind["milestone"]] == [
        (r["level_code"], r["level_rank"], r["name_zh"]) for r in levels
    ]


def _check_dimension_scale(d: dict[str, str], measure: dict[str, str]) -> None:
    """The fixed goalposts of a dimension follow from the list (docs/methodology.md §6)."""
    code, method, quantity = d["dimension_code"], d["scoring_method"], d["scored_quantity"]
    worst, best = float(d["goalpost_worst"]), float(d["goalpost_best"])
    targets = sorted(
        (int(r["year"]), float(r["target_value"]))
        for r in seed("indicator_targets")
        if r["measure_code"] == d["measure_code"]
    )
    assert d["scale_basis"].strip(), code
    assert (quantity == "per_capita") == bool(d["quantity_scale"]), code
    if quantity == "share_meeting":
        assert measure["measure_kind"] == "regions_meeting", code
    if measure["measure_kind"] in ("count", "amount", "regions_meeting"):
        # quantities that grow with the region's size are never scored raw
        assert quantity in ("share_meeting", "per_capita", "pct_of_plan"), code
    if method == "list_targets":
        assert len(targets) >= 2 and targets[0][1] != targets[-1][1], code
        first, last = targets[0][1], targets[-1][1]
        if quantity == "value":
            assert (worst, best) == (first, last), code
        elif quantity == "pct_of_plan":
            assert (worst, best) == (pytest.approx(100 * first / last), 100), code
        else:
            population = next(
                float(r["resident_population"])
                for r in seed("region_population")
                if r["region_code"] == "330000" and r["year"] == "2020"
            )
            scale = float(d["quantity_scale"])
            assert worst == pytest.approx(first * scale / population, abs=1e-4), code
            assert best == pytest.approx(last * scale / population, abs=1e-4), code
    elif method == "target_and_floor":
        assert targets and {t for _, t in targets} == {best} and worst == 0, code
    elif method == "natural_bounds":
        assert (worst, best) == (0, 100), code
    else:
        assert method == "documented_bounds" and not targets, code


def test_index_dimensions(measures: dict[str, dict[str, str]]) -> None:
    dims = seed("index_dimensions")
    weights = defaultdict(list)
    for d in dims:
        assert d["measure_code"] in measures
        assert measures[d["measure_code"]]["zone_code"] == d["zone_code"]
        _check_dimension_scale(d, measures[d["measure_code"]])
        weights[d["zone_code"]].append(float(d["weight"]))
    assert set(weights) == {r["zone_code"] for r in seed("zones")}
    for zone, ws in weights.items():
        assert sum(ws) == pytest.approx(1, abs=1e-6), zone
        assert max(ws) - min(ws) < 1e-9, f"default weights are equal within {zone}"
    # the PP aspects the original names, fed as domain.md reads them
    pp = {d["name_zh"]: d["measure_code"] for d in dims if d["zone_code"] == "PP"}
    assert pp["惠民联办率"] == "PP03A" and pp["探访关爱率"] == "PP03B" and pp["救助标准"] == "PP01"
    # every evaluation-only measure feeds an index
    assert {c for c, m in measures.items() if not m["indicator_code"]} <= {d["measure_code"] for d in dims}


def test_each_zone_names_its_index_model_and_each_index_model_is_a_zone() -> None:
    """zones.csv index_model is the one map from a zone to its index table: each names a mart
    built by index_fact(), which finds its zone there; every such mart is one zone's."""
    from scorecard.core.zones import index_models

    marts = REPO / "dbt_project" / "models" / "marts"
    by_zone = index_models(SEEDS)
    assert list(by_zone) == [r["zone_code"] for r in seed("zones")]
    assert len(set(by_zone.values())) == len(by_zone)
    built_by_index_fact = {
        path.stem for path in marts.glob("*.sql") if "{{ index_fact() }}" in path.read_text(encoding="utf-8")
    }
    assert set(by_zone.values()) == built_by_index_fact
    # nothing else in the dbt project spells the map out (dim_zone reads the seed's column)
    for path in (REPO / "dbt_project").rglob("*.sql"):
        text = path.read_text(encoding="utf-8")
        assert not any(f"'{model}'" in text for model in by_zone.values()), path


def test_every_target_has_a_scope_in_the_lists_words() -> None:
    """seeds/target_scope.csv says for every measure with a target which regions it applies to,
    with the list's wording beside it; the allocation seed is empty (the list allocates none)."""
    scopes = {r["measure_code"]: r for r in seed("target_scope")}
    measures = {r["measure_code"]: r for r in seed("measures")}
    indicators = {r["indicator_code"]: r for r in seed("indicators")}
    with_targets = {r["measure_code"] for r in seed("indicator_targets")}
    assert with_targets <= set(scopes), with_targets - set(scopes)
    # all 29 indicators of the list have at least one measure with a scope
    assert {measures[m]["indicator_code"] for m in scopes} == set(indicators)
    for code, row in scopes.items():
        assert row["list_wording_zh"] and row["scope_reason_en"], code
        # the wording is the list's own: it appears in the indicator's text
        indicator_text = indicators[measures[code]["indicator_code"]]["name_zh"]
        assert row["list_wording_zh"].rstrip("。") in indicator_text, (code, row["list_wording_zh"])
        if row["target_scope"] in {"region_floor", "regions_meeting_count", "regions_meeting_share"}:
            assert row["held_level"] in {"county", "city"} and float(row["region_target"]) > 0, code
    # counts and amounts are never split by population: a total belongs to the province, or is a
    # floor or a count of regions
    for code in with_targets:
        if measures[code]["measure_kind"] in {"count", "amount"}:
            assert scopes[code]["target_scope"] in {
                "province_only",
                "region_floor",
                "regions_meeting_count",
            }, code
    assert seed("target_allocations") == []


# ---------------------------------------------------------------- dbt


def _seed_build(settings: Settings):
    # "cautious": only the tests whose every parent is a seed (not the singular tests that join a
    # seed to a mart, which need the models built)
    return run_dbt(["build", "--select", "resource_type:seed", "--indirect-selection", "cautious"], settings)


@pytest.mark.slow
def test_dbt_seed_build_and_tests(settings: Settings) -> None:
    result = _seed_build(settings)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "ERROR=0" in result.stdout
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from reference.regions").fetchone()[0] == 102
        types = dict(
            con.execute(
                "select table_name || '.' || column_name, data_type from information_schema.columns "
                "where table_schema = 'reference'"
            ).fetchall()
        )
        assert types["regions.region_code"] == "VARCHAR"
        assert types["regions.parent_code"] == "VARCHAR"
        assert types["regions.city_code"] == "VARCHAR"
        assert types["indicator_targets.year"] == "INTEGER"
        assert types["indicator_targets.target_value"] == "DOUBLE"
        assert types["measures.is_cumulative"] == "BOOLEAN"
        assert types["target_scope.region_target"] == "DOUBLE"
        assert types["target_allocations.target_value"] == "DOUBLE"
        assert con.execute(
            "select region_code from reference.regions where region_level = 'province'"
        ).fetchone() == ("330000",)
        assert con.execute("select count(*) from reference.indicator_targets").fetchone()[0] == len(
            seed("indicator_targets")
        )


@pytest.mark.slow
def test_dbt_seed_tests_catch_broken_seeds(settings: Settings, tmp_path: Path) -> None:
    """The dbt data tests fail on a broken copy of the seeds (so they are not vacuous)."""
    project = tmp_path / "dbt_project"
    project.mkdir()
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(settings.dbt_project_dir / name, project / name)
    shutil.copytree(settings.dbt_project_dir / "macros", project / "macros")
    shutil.copytree(settings.dbt_project_dir / "seeds", project / "seeds")
    (project / "models").mkdir()

    def edit(name: str, old: str, new: str) -> None:
        path = project / "seeds" / f"{name}.csv"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    edit(
        "index_dimensions",
        "PP,PPD01,1,惠民联办率,Joint-handling rate,0.2,",
        "PP,PPD01,1,惠民联办率,Joint-handling rate,0.3,",
    )
    edit("indicator_targets", "PP01,2022,11000,", "PP01,2021,11000,")  # duplicate key
    edit("measures", ",social_welfare,values,", ",social_walfare,values,")  # unknown department
    edit("indicator_targets", "PP02,2023,22200,", "PP02,2026,22200,")  # a year outside the programme
    result = _seed_build(replace(settings, dbt_project_dir=project))
    assert result.returncode != 0
    out = result.stdout
    assert re.search(r"FAIL \d+ group_sum_equals_index_dimensions_weight", out), out[-3000:]
    assert re.search(r"FAIL \d+ unique_combination_indicator_targets_measure_code__year", out), out[-3000:]
    assert re.search(r"FAIL \d+ relationships_measures_department_code", out), out[-3000:]
    # the row rules of a seed are one test (macros/test_column_rules.sql): here its expression
    assert re.search(r"FAIL \d+ column_rules_indicator_targets", out), out[-3000:]
