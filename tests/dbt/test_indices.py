"""The five indices on the generated 2021-2025 sample (docs/methodology.md §6-7).

One fixed scale per dimension: the province lies within its cities on every dimension, the same
scored value scores the same in every year and at every level, yes/no conditions score as the
share of units meeting them; the year-on-year decomposition adds up; the rank intervals hold
their median. The formulas themselves are proven by the YAML unit tests of the models.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pytest

from scorecard.core.settings import REPO_ROOT
from scorecard.core.zones import index_models

pytestmark = pytest.mark.slow

ZONE_TABLES = index_models(REPO_ROOT / "dbt_project" / "seeds")
EPS = 1e-9


@pytest.fixture(scope="module")
def marts(built_warehouse):
    assert built_warehouse.build_ok, built_warehouse.build_stdout[-4000:]
    with duckdb.connect(str(built_warehouse.settings.warehouse_path), read_only=True) as con:
        yield con


def test_province_lies_within_its_cities_on_every_dimension_and_index(marts):
    """On the same values (the province's are the roll-up of its counties), the province's score
    is between the lowest and the highest city on every dimension and every index, every year;
    so it stays below 100 wherever its cities do (it used to score about 100 alone at its level)."""
    rows = marts.execute(
        "select dimension_code, year, region_level, dimension_score from marts.fct_index_dimension_scores "
        "where region_level in ('province', 'city') and dimension_score is not null"
    ).fetchall()
    cities: dict[tuple[str, int], list[float]] = defaultdict(list)
    province: dict[tuple[str, int], float] = {}
    for code, year, level, score in rows:
        if level == "city":
            cities[(code, year)].append(score)
        else:
            province[(code, year)] = score
    assert len(province) > 100
    for key, score in province.items():
        assert min(cities[key]) - EPS <= score <= max(cities[key]) + EPS, key
    below_100 = 0
    for zone, table in ZONE_TABLES.items():
        by_year = marts.execute(
            f"select year, max(index_score) filter (where region_level = 'province'), "
            f"min(index_score) filter (where region_level = 'city'), "
            f"max(index_score) filter (where region_level = 'city') from marts.{table} group by year"
        ).fetchall()
        for year, prov, low, high in by_year:
            assert low - EPS <= prov <= high + EPS, (zone, year, prov, low, high)
            below_100 += prov < 100
    assert below_100 == 25, "the province is below 100 in every zone and year of the sample"


def test_the_same_scored_value_scores_the_same_in_every_year_and_level(marts):
    """The goalposts never move with the year, the level or the peers."""
    rows = marts.execute(
        "select dimension_code, scored_value, count(distinct dimension_score), "
        "count(distinct year), count(distinct region_level) "
        "from marts.fct_index_dimension_scores where scored_value is not null group by all"
    ).fetchall()
    assert rows
    assert [r for r in rows if r[2] != 1] == []
    # the scale is the seed's, the same on every row of a dimension
    spread = marts.execute(
        "select dimension_code, count(distinct (goalpost_worst, goalpost_best, scoring_method_applied)) "
        "from marts.fct_index_dimension_scores group by dimension_code having count(distinct "
        "(goalpost_worst, goalpost_best, scoring_method_applied)) <> 1"
    ).fetchall()
    assert spread == []


def test_yes_no_conditions_score_the_share_of_units_meeting_them(marts):
    """SGD06 (at least one community foundation per county): a city's score is the share of its
    counties with one, recomputed here from the counties' own rows; a city whose counties all
    comply is ranked at or above every city with fewer compliant counties."""
    county = marts.execute(
        "select s.year, r.city_code, s.actual_value from marts.fct_index_dimension_scores as s "
        "join marts.dim_region as r using (region_code) "
        "where s.dimension_code = 'SGD06' and s.region_level = 'county' and s.actual_value is not null"
    ).fetchall()
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for year, city, value in county:
        counts[(year, city)][0] += value >= 1
        counts[(year, city)][1] += 1
    cities = marts.execute(
        "select year, region_code, dimension_score from marts.fct_index_dimension_scores "
        "where dimension_code = 'SGD06' and region_level = 'city' and dimension_score is not null"
    ).fetchall()
    assert len(cities) == 55
    shares_seen = set()
    for year, city, score in cities:
        meeting, reporting = counts[(year, city)]
        assert score == pytest.approx(100 * meeting / reporting, abs=1e-9), (year, city)
        shares_seen.add(round(score, 6))
    assert len(shares_seen) > 2, "the sample has cities with different shares of compliant counties"
    for year in range(2021, 2026):
        full = [s for y, _, s in cities if y == year and s == 100]
        partial = [s for y, _, s in cities if y == year and s < 100]
        if full and partial:
            assert min(full) >= max(partial)


def test_score_changes_add_up_for_every_region_and_year(marts):
    """Every region, zone and year with an index this year and last is decomposed, and its
    dimension contributions add up to the change of its index."""
    expected = 0
    for table in ZONE_TABLES.values():
        (pairs,) = marts.execute(
            f"select count(*) from marts.{table} as t join marts.{table} as l "
            "on t.region_code = l.region_code and t.year = l.year + 1 "
            "where t.index_score is not null and l.index_score is not null"
        ).fetchone()
        expected += pairs
    rows = marts.execute(
        "select zone_code, region_code, year, sum(contribution), max(index_change), min(index_change), "
        "count(*), count(distinct mover_rank) from marts.fct_index_score_changes group by all"
    ).fetchall()
    assert len(rows) == expected > 0
    for zone, region, year, total, change, change_again, n, ranks in rows:
        assert change == change_again
        assert abs(total - change) <= EPS, (zone, region, year, total, change)
        assert ranks == n


def test_every_ranked_region_has_a_rank_interval_holding_its_median(marts):
    for zone, table in ZONE_TABLES.items():
        rows = marts.execute(
            f"select region_level, year, index_score, rank_in_level, rank_median, rank_p05, rank_p95, "
            f"regions_ranked from marts.{table}"
        ).fetchall()
        for level, year, index, rank, median, p05, p95, ranked in rows:
            if index is None:
                assert (rank, median, p05, p95) == (None, None, None, None)
                continue
            assert 1 <= p05 <= median <= p95 <= ranked, (zone, level, year)
            if level == "province":
                assert (p05, median, p95) == (1, 1, 1)
