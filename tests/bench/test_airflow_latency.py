"""The Airflow latency benchmark's drops (bench/airflow_latency.py) are corrections the gate
passes: each county's value follows its published history instead of jumping tenfold."""

from __future__ import annotations

import duckdb
import pytest

from bench.airflow_latency import MEASURE, correction


def publish_history(settings, values: dict[str, float]) -> None:
    parquet = settings.publish / "parquet"
    parquet.mkdir(parents=True, exist_ok=True)
    rows = [f"('{MEASURE}', '{county}', 2024, {value})" for county, value in values.items()]
    rows.append("('CH01A', '330102', 2024, 40)")  # another measure of a county: not read
    duckdb.execute(
        f"copy (select * from (values {', '.join(rows)}) "
        "as t(measure_code, region_code, year, actual_value)) "
        f"to '{parquet / 'fct_indicator_progress.parquet'}' (format parquet)"
    )


def test_a_drop_corrects_the_county_by_one_from_its_published_value(settings) -> None:
    from ingest.reference import load_reference

    counties = sorted(c for c, r in load_reference(settings).regions.items() if r.level == "county")
    publish_history(settings, dict.fromkeys(counties, 1.0) | {counties[0]: 7.0, counties[7]: 30.0})
    values = {}
    for index in (0, 1):
        name, body = correction(index, settings)
        _header, row = body.decode("utf-8").splitlines()
        county, measure, period, value, _ = row.split(",")
        assert (measure, period) == (MEASURE, "2025") and name.startswith(f"bench_drop_{index:02d}_")
        values[county] = int(value)
    # one more, then one less than the year before: never a tenfold jump (3 + index was)
    assert values == {counties[0]: 8, counties[7]: 29}


def test_a_county_without_a_published_value_is_refused(settings) -> None:
    publish_history(settings, {})
    with pytest.raises(RuntimeError, match="no published 2024 value"):
        correction(0, settings)
