"""Crashes: SIGKILL the loader, ``dbt build`` and publication midway; nothing is lost or half-done.

Each step runs in a child process that is killed with SIGKILL (no cleanup, no ``finally``) at a
chosen point (see ``fault_runner.py``); then the warehouse, the inbox and the published snapshot are
checked against what they were, and a retry must converge.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import HEADER, csv_text, query, sha256, tables_checksum

from ingest.loader import load_paths
from scorecard.core.settings import Settings

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).with_name("fault_runner.py")
ROWS_A = [["330102", "PP03A", "2023", "90"], ["330105", "PP03A", "2023", "91"]]
ROWS_B = [
    ["330102", "PP03A", "2023", "95"],
    ["330106", "PP03A", "2023", "80"],
    ["339999", "PP03A", "2023", "1"],
]


def start(settings: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(RUNNER), *args],
        env=settings.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen, sentinel: Path, timeout: float = 90) -> None:
    """SIGKILL the child (and its group) once it has reached the sentinel."""
    deadline = time.monotonic() + timeout
    while not sentinel.exists():
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"the child ended before the fault point: rc={process.returncode}\n{output[-3000:]}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("the child never reached the fault point")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def wait_until_unlocked(path: Path, timeout: float = 30) -> None:
    """A SIGKILLed group's processes die asynchronously: wait until none holds the DuckDB lock."""
    import duckdb

    deadline = time.monotonic() + timeout
    while True:
        try:
            duckdb.connect(str(path), read_only=True).close()
            return
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def raw_state(settings: Settings) -> dict[str, tuple]:
    return tables_checksum(settings, "raw")


# --- the loader --------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["rows_written", "before_commit", "after_commit"])
def test_loader_killed_mid_file(settings: Settings, tmp_path: Path, point: str) -> None:
    folder = settings.inbox / "social_assistance"
    folder.mkdir(parents=True)
    baseline = folder / "0_baseline.csv"
    baseline.write_text(csv_text(HEADER[:4], [["330110", "PP03A", "2023", "70"]]), encoding="utf-8")
    load_paths(settings=settings)
    first, second = folder / "1_first.csv", folder / "2_second.csv"
    first.write_text(csv_text(HEADER[:4], ROWS_A), encoding="utf-8")
    second.write_text(csv_text(HEADER[:4], ROWS_B), encoding="utf-8")
    digests = {path.name: sha256(path) for path in (first, second)}

    sentinel = tmp_path / "frozen"
    kill_when(start(settings, "load", point, str(sentinel)), sentinel)

    # The first file of the batch committed; the second is exactly as if never started (before the
    # commit), or committed and still in the inbox (after it).
    ledger = query(settings, "SELECT file_name, status FROM raw.file_ledger ORDER BY file_id")
    expected = [("0_baseline.csv", "loaded"), ("1_first.csv", "loaded")]
    if point == "after_commit":
        expected.append(("2_second.csv", "loaded_with_rejects"))
    assert ledger == expected
    assert second.exists() and sha256(second) == digests["2_second.csv"]
    assert not first.exists()
    if point != "after_commit":
        loaded_rows = query(settings, "SELECT count(*) FROM raw.submissions")[0][0]
        assert loaded_rows == 1 + len(ROWS_A)
        assert query(settings, "SELECT count(*) FROM raw.quarantine") == [(0,)]
    before_retry = raw_state(settings)

    # The retry converges: every file once in the ledger, rows once, the inbox empty; a second
    # retry changes nothing. After the commit, the retry finds the file recorded but not moved and
    # only moves it (issue #23 point 8: no second ledger row, formerly a "duplicate" receipt).
    retry = load_paths(settings=settings)
    assert [r.status for r in retry] == ["loaded_with_rejects"]
    assert query(settings, "SELECT count(*) FROM raw.file_ledger") == [(3,)]
    loads = query(
        settings,
        "SELECT sha256, count(*) FROM raw.file_ledger WHERE status <> 'duplicate' GROUP BY 1",
    )
    assert sorted(count for _, count in loads) == [1, 1, 1]
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(1 + len(ROWS_A) + 2,)]
    assert query(settings, "SELECT count(*) FROM raw.quarantine") == [(1,)]
    for file_id, rows_input, loaded, rejected in query(
        settings, "SELECT file_id, rows_input, rows_loaded, rows_rejected FROM raw.file_ledger"
    ):
        in_tables = query(settings, "SELECT count(*) FROM raw.submissions WHERE file_id = ?", [file_id])[0][0]
        quarantined = query(
            settings, "SELECT count(DISTINCT row_ref) FROM raw.quarantine WHERE file_id = ?", [file_id]
        )[0][0]
        assert (in_tables, quarantined) == (loaded, rejected) and loaded + rejected == rows_input
    assert list(settings.inbox.rglob("*.csv")) == []
    if point == "after_commit":
        assert raw_state(settings)["submissions"] == before_retry["submissions"]
    settled = raw_state(settings)
    assert load_paths(settings=settings) == []
    assert raw_state(settings) == settled


def test_a_second_ingest_waits_for_the_first(settings: Settings, tmp_path: Path) -> None:
    """Two ingest processes at once: the second waits for the warehouse lock instead of failing."""
    folder = settings.inbox / "social_assistance"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(csv_text(HEADER[:4], ROWS_A), encoding="utf-8")
    sentinel, releasing = tmp_path / "locked", tmp_path / "releasing"
    # Another process (think: a second ingest, or dbt) holds the warehouse for three seconds and
    # says so, still holding it, just before it lets go.
    code = (
        "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); open(sys.argv[2], 'w').close(); "
        "time.sleep(3); open(sys.argv[3], 'w').close(); con.close()"
    )
    locker = subprocess.Popen(
        [sys.executable, "-c", code, str(settings.warehouse_path), str(sentinel), str(releasing)]
    )
    deadline = time.monotonic() + 120
    while not sentinel.exists():
        assert time.monotonic() < deadline and locker.poll() is None, "the other process never took the lock"
        time.sleep(0.05)
    assert not releasing.exists()
    results = load_paths(settings=settings)
    assert locker.wait(timeout=120) == 0
    assert [r.status for r in results] == ["loaded"]
    assert releasing.exists()  # it did wait for the other process to let go...
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(2,)]  # ...and then loaded


# --- dbt build and publication -----------------------------------------------------------------


def publication_state(settings: Settings) -> dict[str, object]:
    publish_dir = settings.publish
    return {
        "snapshot": sha256(publish_dir / "scorecards.duckdb"),
        "manifest": (publish_dir / "manifest.json").read_bytes(),
        "current": os.readlink(publish_dir / "current"),
        # (a killed publisher's temporary files are dot-files: no reader takes them for a release)
        "releases": sorted(
            p.name for p in (publish_dir / "releases").iterdir() if not p.name.startswith(".")
        ),
    }


def assert_snapshot_readable(settings: Settings) -> str:
    """The published snapshot opens, is the one the manifest names, and holds what it lists."""
    from warehouse.publish import open_snapshot

    manifest = json.loads((settings.publish / "manifest.json").read_text(encoding="utf-8"))
    assert sha256(settings.publish / "scorecards.duckdb") == manifest["snapshot"]["sha256"]
    con = open_snapshot(settings=settings)
    try:
        (run_id,) = con.execute("SELECT run_id FROM meta.publication").fetchone()
        for mart in manifest["marts"]:
            rows = con.execute(f'SELECT count(*) FROM marts."{mart["name"]}"').fetchone()[0]
            assert rows == mart["rows"], mart["name"]
    finally:
        con.close()
    assert run_id == manifest["run_id"]
    return run_id


def load_correction(settings: Settings) -> None:
    """New data (one changed value), so that a rebuilt mart differs from the old one. A plausible
    correction of a quarterly level (the dibao standard, 11,748 in the sample) in its own frequency:
    a far-off value (an annual rate of 12.5 % beside quarterly ~72 %) is now, rightly, a severe
    anomaly and an incomplete ratio roll-up, and the gate would refuse the publication."""
    correction = settings.inbox / "social_assistance" / "correction.csv"
    correction.parent.mkdir(parents=True, exist_ok=True)
    correction.write_text(csv_text(HEADER[:4], [["330102", "PP01", "2023-Q4", "11760"]]), encoding="utf-8")
    assert [r.status for r in load_paths(settings=settings)] == ["loaded"]


def kill_build_after(settings: Settings, mode: str, created: str, count: int = 3) -> None:
    """Run the pipeline's own build (``warehouse.dbt.dbt_build`` in ``mode``) in a child process
    and SIGKILL its whole process group (it and dbt) once dbt logged ``created`` count times;
    return when nothing holds the warehouse any more."""
    command = [
        sys.executable,
        "-c",
        "import sys; from warehouse.dbt import dbt_build; "
        f"sys.exit(0 if dbt_build(mode={mode!r}, echo=True).ok else 1)",
    ]
    process = subprocess.Popen(
        command,
        cwd=settings.dbt_project_dir,
        env=settings.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = 0
    assert process.stdout is not None
    for line in process.stdout:
        if re.search(created, line):
            seen += 1
            if seen == count:
                break
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert seen == count, f"dbt finished or failed before {count} x {created!r}"
    wait_until_unlocked(settings.warehouse_path)  # the killed dbt may still be exiting


def test_dbt_build_killed_midway(home_copy: Settings, tmp_path: Path) -> None:
    from warehouse.dbt import SHADOW_NAME, dbt_build

    settings = home_copy
    marts_before = tables_checksum(settings, "marts")
    published_before = publication_state(settings)
    load_correction(settings)
    raw_before = raw_state(settings)

    # The pipeline's own full build (on a shadow copy), killed after three marts were rebuilt.
    kill_build_after(settings, "full", r"OK created sql table model marts\.")

    # After the kill: the warehouse exactly as before (the build ran on a shadow copy that was
    # never swapped in): raw untouched, every mart the old one; the snapshot as before.
    assert raw_state(settings) == raw_before
    marts_killed = tables_checksum(settings, "marts")
    assert marts_killed == marts_before
    assert publication_state(settings) == published_before
    assert_snapshot_readable(settings)

    retry = dbt_build(settings)
    assert retry.ok, retry.stdout[-3000:]
    marts_after = tables_checksum(settings, "marts")
    assert set(marts_after) == set(marts_before)
    changed = {name for name in marts_after if marts_after[name] != marts_before[name]}
    assert changed, "the correction changed no mart: the test cannot tell old from new"
    assert not (settings.home / SHADOW_NAME).exists()
    assert publication_state(settings) == published_before  # a build never publishes by itself


def test_incremental_build_killed_midway(home_copy: Settings, tmp_path: Path) -> None:
    """An incremental build runs in place (warehouse.dbt): killed midway, it leaves the warehouse
    marked unfinished; nothing is published from it, and the next build is a full one that
    repairs it and removes the mark."""
    from quality.gate import CheckRecord, GateResult, run_gate
    from warehouse.dbt import dbt_build, resolve_mode, unfinished_build
    from warehouse.publish import publish

    settings = home_copy
    assert resolve_mode(settings, "auto") == "incremental"
    published_before = publication_state(settings)
    load_correction(settings)
    raw_before = raw_state(settings)
    marts_before = tables_checksum(settings, "marts")

    kill_build_after(settings, "auto", r"OK created sql incremental model")

    assert raw_state(settings) == raw_before
    assert unfinished_build(settings) is not None
    assert resolve_mode(settings, "auto") == "full"
    # even a passing gate's result does not publish an unfinished build (refused before it is read)
    passing = GateResult("gate-1", "2026-01-15T09:00:00+00:00", str(settings.warehouse_path))
    passing.results.append(CheckRecord("marts", "c", "d", "row count", "pass", ""))
    refused = publish(settings, gate=passing)
    assert not refused.published and "unfinished incremental build" in refused.reason
    assert publication_state(settings) == published_before
    assert_snapshot_readable(settings)

    retry = dbt_build(settings, mode="auto")
    assert retry.mode == "full" and retry.ok, retry.stdout[-3000:]
    assert unfinished_build(settings) is None
    marts_after = tables_checksum(settings, "marts")
    assert set(marts_after) == set(marts_before)
    assert {name for name in marts_after if marts_after[name] != marts_before[name]}
    assert publish(settings, gate=run_gate(settings)).published


@pytest.mark.parametrize("point", ["copying_marts", "before_manifest"])
def test_publish_killed_midway(home_copy: Settings, tmp_path: Path, point: str) -> None:
    from quality.gate import run_gate
    from warehouse.publish import publish

    settings = home_copy
    before = publication_state(settings)
    run_before = assert_snapshot_readable(settings)
    sentinel = tmp_path / "frozen"
    kill_when(start(settings, "publish", point, str(sentinel)), sentinel)

    if point == "copying_marts":
        # Nothing was swapped in: the previous publication, byte for byte, still readable.
        assert publication_state(settings) == before
        assert assert_snapshot_readable(settings) == run_before
    else:
        # Killed right after the one atomic step (the flip of `current`): the snapshot, its
        # release manifest and the top-level manifest.json are all the new (complete) publication.
        from warehouse.publish import open_snapshot

        con = open_snapshot(settings=settings)
        (new_run,) = con.execute("SELECT run_id FROM meta.publication").fetchone()
        con.close()
        release = json.loads((settings.publish / "current" / "manifest.json").read_text(encoding="utf-8"))
        assert release["run_id"] == new_run != run_before
        assert release["snapshot"]["sha256"] == sha256(settings.publish / "scorecards.duckdb")
        top = json.loads((settings.publish / "manifest.json").read_text(encoding="utf-8"))
        assert top == release

    if point == "copying_marts":
        return  # (the retry is the same as below; one retry keeps the suite short)
    result = publish(settings, gate=run_gate(settings))
    assert result.published, result.reason
    run_after = assert_snapshot_readable(settings)
    assert run_after not in (run_before,)
    # What a killed publisher leaves behind is hidden (dot-files) and never taken for a release.
    visible = {p.name for p in settings.publish.iterdir() if not p.name.startswith(".")}
    assert {"scorecards.duckdb", "manifest.json", "current", "parquet", "releases"} <= visible
    assert not [name for name in visible if name.endswith(".tmp")]
    releases = [p for p in (settings.publish / "releases").iterdir() if not p.name.startswith(".")]
    assert all((release / "manifest.json").exists() for release in releases)
