"""Acceptance check: with Airflow running, a corrected file dropped into the inbox is republished
within a minute, with the new value in the published snapshot.

    .venv/bin/python -m bench.republish_check [--home DIR] [--port 8880] [--keep-running]

Starts ``airflow standalone`` (as ``scorecard demo`` does, in its own SCORECARD_HOME), loads the
sample submissions once if nothing is published there yet, then drops a one-row correction for
``SG01A`` (community_governance) of one county for 2025 into ``inbox/community_governance/`` and
measures the time until ``marts.fct_indicator_progress`` in the published snapshot shows the new
value. Prints the figure and exits 0 if it is under ``--limit`` seconds (default 60).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REGION, MEASURE, YEAR, DEPARTMENT = "330102", "SG01A", 2025, "community_governance"


def published_value(settings) -> float | None:
    from warehouse.publish import open_snapshot

    if not (settings.publish / "scorecards.duckdb").exists():
        return None
    con = open_snapshot(settings=settings)
    try:
        row = con.execute(
            "select submitted_value from marts.fct_indicator_progress "
            "where region_code = ? and measure_code = ? and year = ?",
            [REGION, MEASURE, YEAR],
        ).fetchone()
    finally:
        con.close()
    return None if row is None else row[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/scorecard-republish-check"))
    parser.add_argument("--port", type=int, default=8880)
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--keep-running", action="store_true")
    args = parser.parse_args(argv)

    os.environ["SCORECARD_HOME"] = str(args.home.resolve())
    os.environ.setdefault("SCORECARD_AS_OF", "2026-01-15")
    from scorecard.airflow.env import airflow_env, airflow_home
    from scorecard.core.settings import get_settings
    from scorecard.demo import (
        ALL_DAGS,
        DemoError,
        Standalone,
        ensure_pool,
        say,
        stage_and_drop,
        wait_for_publication,
    )

    settings = get_settings()
    settings.ensure_dirs()
    home = airflow_home(settings)
    env = airflow_env(settings, home=home, port=args.port)
    airflow = Standalone(env, home, args.port)
    try:
        airflow.start()
        say(f"Airflow healthy after {airflow.wait_healthy(300):.0f} s")
        ensure_pool(env)
        airflow.wait_dags(ALL_DAGS, timeout=180)
        before = published_value(settings)
        if before is None:
            say("nothing published yet: loading the sample submissions first")
            from datetime import UTC, datetime

            since = datetime.now(UTC).isoformat(timespec="seconds")
            dropped = stage_and_drop(settings, 5)
            wait_for_publication(airflow, settings, dropped, since, timeout=1800)
            before = published_value(settings)
        if before is None:
            raise DemoError(f"{MEASURE} {REGION} {YEAR} is not in the published snapshot")
        new_value = float(int(before) + 3)
        say(f"published {MEASURE} {REGION} {YEAR} = {before}; dropping a correction to {new_value:g}")

        staging = settings.home / "bench_staging"
        staging.mkdir(parents=True, exist_ok=True)
        name = f"{YEAR}_{DEPARTMENT}_values_correction_{int(time.time())}.csv"
        text = (
            "region_code\tregion_name\tmeasure_code\tperiod\tvalue\tnumerator\tdenominator\tunit\tnote\r\n"
            f"{REGION}\t上城区\t{MEASURE}\t{YEAR}\t{new_value:g}\t\t\t个\t更正 correction\r\n"
        )
        (staging / name).write_text(text, encoding="utf-8")
        target = settings.inbox / DEPARTMENT / name
        target.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        os.replace(staging / name, target)
        deadline = started + max(args.limit * 3, 180)
        while time.monotonic() < deadline:
            value = published_value(settings)
            if value is not None and abs(value - new_value) < 1e-9:
                elapsed = time.monotonic() - started
                verdict = "PASS" if elapsed <= args.limit else "FAIL"
                say(f"{verdict}: corrected value {value:g} published {elapsed:.1f} s after the drop")
                return 0 if verdict == "PASS" else 1
            time.sleep(0.5)
        say(f"FAIL: the corrected value was not published within {deadline - started:.0f} s")
        return 1
    except DemoError as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        if airflow.running() and not args.keep_running:
            took = airflow.stop()
            say(f"Airflow stopped in {took or 0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
