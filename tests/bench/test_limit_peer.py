"""The limit peer (bench/limit_peer.sql) against the pipeline's fct_indicator_progress, and the
stage split read from dbt's run_results.json, on the province-scale sample (generated, loaded
by the real loader, real ``dbt build``): the session's ``sample_build`` (tests/conftest.py).

The peer is only a fair measure of the limit if it does the same work: every row of the model
must be a row of the peer and every compared column must agree (doubles to a relative 1e-9).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import limit_peer, stage_split
from scorecard.core.settings import get_settings

AS_OF = "2026-01-15"
KEY = ("measure_code", "region_code", "year")
# Every column the peer computes; the trajectory columns (trend, projection, progress_status)
# are left out of the peer (bench/limit_peer.sql).
DOUBLES = (
    "actual_value",
    "submitted_value",
    "rolled_up_value",
    "rolled_up_min_value",
    "actual_numerator",
    "actual_denominator",
    "target_value",
    "plan_value",
    "attainment_pct",
)
EXACT = (
    "indicator_code",
    "zone_code",
    "region_level",
    "period",
    "measure_kind",
    "direction",
    "unit",
    "value_source",
    "source_period",
    "children_level",
    "children_expected",
    "children_reporting",
    "target_type",
    "target_basis",
    "target_scope",
    "value_period_end",
    "is_complete",
    "is_target_met",
    "year_status",
    "is_year_over",
    "status_basis",
)


@dataclass(frozen=True)
class Sample:
    warehouse: Path
    seeds: Path
    run_results: Path
    build_seconds: float


@pytest.fixture(scope="module")
def sample(sample_build) -> Sample:
    """The session's sample build (tests/conftest.py), read only: the peer attaches it read-only."""
    assert sample_build.build_ok, sample_build.build_output[-3000:]
    return Sample(
        sample_build.warehouse,
        get_settings().seeds_dir,  # the repository's dbt_project/seeds, which the build seeded
        sample_build.work / "dbt-target" / "run_results.json",
        sample_build.build_seconds,
    )


def _differences(sample: Sample) -> tuple[int, int, dict[str, list[tuple]]]:
    peer = limit_peer.run(sample.warehouse, sample.seeds, AS_OF)
    con = peer.connection
    try:
        on = " and ".join(f"m.{k} = p.{k}" for k in KEY)
        con.execute(
            "create temp table compared as select m.*, "
            + ", ".join(f"p.{c} as peer_{c}" for c in (*KEY, *DOUBLES, *EXACT))
            + " from wh.marts.fct_indicator_progress as m"
            + f" full outer join peer_indicator_progress as p on {on}"
        )
        (model_rows,) = con.execute("select count(*) from wh.marts.fct_indicator_progress").fetchone() or (0,)
        found: dict[str, list[tuple]] = {}
        missing = con.execute(
            "select measure_code, region_code, year, peer_measure_code, peer_region_code, peer_year "
            "from compared where measure_code is null or peer_measure_code is null limit 5"
        ).fetchall()
        if missing:
            found["row sets"] = missing
        for column in DOUBLES:
            rows = con.execute(
                f"select measure_code, region_code, year, {column}, peer_{column} from compared "
                f"where measure_code is not null and peer_measure_code is not null and ("
                f"({column} is null) <> (peer_{column} is null) "
                f"or abs({column} - peer_{column}) > 1e-9 * greatest(1, abs({column}))) limit 5"
            ).fetchall()
            if rows:
                found[column] = rows
        for column in EXACT:
            rows = con.execute(
                f"select measure_code, region_code, year, {column}, peer_{column} from compared "
                f"where measure_code is not null and peer_measure_code is not null "
                f"and {column} is distinct from peer_{column} limit 5"
            ).fetchall()
            if rows:
                found[column] = rows
        return int(model_rows), peer.rows, found
    finally:
        con.close()


@pytest.mark.slow
def test_limit_peer_agrees_with_fct_indicator_progress(sample: Sample) -> None:
    model_rows, peer_rows, found = _differences(sample)
    assert model_rows > 20_000  # the province sample: 23,000-odd rows
    assert peer_rows == model_rows
    assert not found, "\n".join(f"{column}: {rows}" for column, rows in found.items())


@pytest.mark.slow
def test_limit_peer_sees_a_changed_raw_value(sample: Sample, tmp_path: Path) -> None:
    """The comparison can fail: a county value doubled in a copy of raw moves the peer's
    value there and the roll-ups above it, while the model (built before) does not."""
    import shutil

    import duckdb

    copy = tmp_path / "changed.duckdb"
    shutil.copy(sample.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update raw.submissions set value = value * 2"
            " where measure_code = 'PP01' and region_code = '330102'"
        )
    _, _, found = _differences(Sample(copy, sample.seeds, sample.run_results, sample.build_seconds))
    assert "actual_value" in found and "rolled_up_value" in found


@pytest.mark.slow
def test_stage_split_of_the_sample_build(sample: Sample) -> None:
    split = stage_split.read(sample.run_results, wall_seconds=sample.build_seconds)
    assert split is not None
    by_type = split["by_type"]
    assert by_type["model"]["nodes"] > 20 and by_type["test"]["nodes"] > 50
    assert split["nodes"] == sum(group["nodes"] for group in by_type.values())
    assert split["startup_s"] >= 0 and split["elapsed_s"] > 0
    # dbt_project/profiles.yml: SCORECARD_DBT_THREADS nodes at a time (1 unless set; at most 2 here)
    assert split["busy_s"] <= split["elapsed_s"] * 1.01
    assert 1.0 <= split["concurrency"] <= 2.01
    assert split["node_seconds"] <= split["busy_s"] * 2.01
    for group in by_type.values():
        assert group["compile_s"] + group["execute_s"] <= group["seconds"] + 0.01


def test_stage_split_of_a_hand_written_run_results() -> None:
    def at(seconds: float) -> str:
        return f"2026-01-01T00:00:{seconds:06.3f}Z"

    def node(unique_id: str, begin: float, total: float, compile_s: float, execute_s: float) -> dict:
        # dbt's bookkeeping (total minus the two phases) first, then compile, then execute
        start = begin + total - compile_s - execute_s
        timing = [
            {"name": "compile", "started_at": at(start), "completed_at": at(start + compile_s)},
            {"name": "execute", "started_at": at(start + compile_s), "completed_at": at(begin + total)},
        ]
        return {"unique_id": unique_id, "execution_time": total, "timing": timing}

    # One thread: the nodes one after another, 4 s between them in all.
    run_results = {
        "elapsed_time": 10.0,
        "results": [
            node("model.scorecard.a", 0.0, 3.0, 0.5, 2.0),
            node("test.scorecard.t1", 5.0, 1.0, 0.25, 0.5),
            node("test.scorecard.t2", 8.0, 2.0, 0.5, 1.0),
        ],
    }
    split = stage_split.split(run_results, wall_seconds=14.0)
    assert split["nodes"] == 3
    assert split["startup_s"] == 4.0
    assert split["busy_s"] == 6.0 and split["concurrency"] == 1.0
    assert split["scheduling_s"] == 4.0
    assert split["by_type"]["test"] == {
        "nodes": 2,
        "seconds": 3.0,
        "compile_s": 0.75,
        "execute_s": 1.5,
        "other_s": 0.75,
        "median_node_s": 1.5,
    }
    # Two threads: t1 and t2 run beside a (0-3 s and 1-3 s), so 3 s busy, 6 s of nodes.
    run_results["results"][1] = node("test.scorecard.t1", 2.0, 1.0, 0.25, 0.5)
    run_results["results"][2] = node("test.scorecard.t2", 1.0, 2.0, 0.5, 1.0)
    split = stage_split.split(run_results, wall_seconds=14.0)
    assert split["node_seconds"] == 6.0
    assert split["busy_s"] == 3.0 and split["concurrency"] == 2.0
    assert split["scheduling_s"] == 7.0
    assert split["by_type"]["model"]["other_s"] == 0.5
