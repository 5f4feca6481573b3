"""Fixtures for the report and workbook tests: one real publication, made once per session.

The real pipeline on generated data: the session's sample build (``sample_build`` in
tests/conftest.py: generated submissions, the real loader, a real ``dbt build``) -> the quality
gate (its results go into the manifest whatever they are), then a snapshot laid out like
``warehouse.publish`` (schema ``marts`` with every mart, schema ``meta``) and a manifest.
Publication itself is not called: the report must be testable even while the gate is red, and
the snapshot's layout is all the report and workbook rely on.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import Workbook

from scorecard.core.settings import Settings, get_settings

AS_OF = "2026-01-15"


@dataclass(frozen=True)
class Publication:
    """A snapshot as publication leaves it, and its manifest."""

    home: Path
    publish_dir: Path
    snapshot: Path
    manifest: dict[str, Any]


def _set_env(mp: pytest.MonkeyPatch, home: Path, work: Path) -> Settings:
    mp.setenv("SCORECARD_HOME", str(home))
    mp.setenv("SCORECARD_AS_OF", AS_OF)
    mp.setenv("DBT_TARGET_PATH", str(work / "dbt-target"))
    mp.setenv("DBT_LOG_PATH", str(work / "dbt-logs"))
    settings = get_settings()
    settings.ensure_dirs()
    return settings


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def build_snapshot(warehouse: Path, snapshot: Path, checks: dict[str, Any], run_id: str) -> dict[str, Any]:
    """Copy every ``marts`` table of ``warehouse`` into a new read-only ``snapshot`` with ``meta``;
    return the manifest (run id, time, marts, source files, checks)."""
    published_at = datetime.now(UTC).isoformat(timespec="seconds")
    con = duckdb.connect(str(snapshot))
    try:
        con.execute(f"ATTACH {_q(str(warehouse))} AS wh (READ_ONLY)")
        names = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_catalog = 'wh' "
                "and table_schema = 'marts' order by table_name"
            ).fetchall()
        ]
        con.execute("create schema marts")
        marts = []
        for name in names:
            con.execute(f'create table marts."{name}" as select * from wh.marts."{name}"')
            marts.append(
                {"name": name, "rows": con.execute(f'select count(*) from marts."{name}"').fetchone()[0]}
            )
        cursor = con.execute(
            "select file_id, file_name, department_code, sha256, size_bytes, cast(received_at as varchar) "
            "as received_at, status from wh.raw.file_ledger where status in ('loaded',"
            " 'loaded_with_rejects') "
            "order by file_id"
        )
        columns = [d[0] for d in cursor.description]
        source_files = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        con.execute("create schema meta")
        con.execute(
            "create table meta.publication (run_id varchar, published_at varchar, as_of date,"
            " gate_run_id varchar, "
            "checks_passed integer, checks_warned integer)"
        )
        counts = checks.get("counts", {})
        con.execute(
            "insert into meta.publication values (?, ?, ?, ?, ?, ?)",
            [run_id, published_at, AS_OF, checks.get("run_id"), counts.get("pass", 0), counts.get("warn", 0)],
        )
        con.execute(
            "create table meta.source_files (file_id bigint, file_name varchar, department_code varchar, "
            "sha256 varchar, size_bytes bigint, received_at varchar, status varchar)"
        )
        if source_files:
            con.executemany(
                "insert into meta.source_files values (?, ?, ?, ?, ?, ?, ?)",
                [tuple(f.values()) for f in source_files],
            )
        con.execute("detach wh")
        con.execute("checkpoint")
    finally:
        con.close()
    os.chmod(snapshot, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return {
        "run_id": run_id,
        "published_at": published_at,
        "as_of": AS_OF,
        "snapshot": {"path": snapshot.name},
        "marts": marts,
        "source_files": source_files,
        "checks": checks,
    }


@pytest.fixture(scope="session")
def publication(sample_build, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Publication]:
    """The session's sample build (tests/conftest.py) through the gate into a snapshot, in a copy
    of its data directory (once per session)."""
    from quality.gate import run_gate

    assert sample_build.build_ok, sample_build.build_output[-4000:]
    work = tmp_path_factory.mktemp("report-publication")
    home = sample_build.copy_home(work / "home")
    with pytest.MonkeyPatch.context() as mp:
        settings = _set_env(mp, home, work)
        gate = run_gate(settings, write=False)
        publish_dir = settings.publish
        publish_dir.mkdir(parents=True, exist_ok=True)
        snapshot = publish_dir / "scorecards.duckdb"
        manifest = build_snapshot(settings.warehouse_path, snapshot, gate.to_dict(), "20260115T090000-test01")
        (publish_dir / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
        )
        yield Publication(home, publish_dir, snapshot, manifest)


@pytest.fixture(scope="session")
def report_html(publication: Publication) -> Path:
    """The report of the session's publication, written where publication puts it."""
    from reports.html import write_report

    return write_report(publication.snapshot, publication.publish_dir, publication.manifest)


@pytest.fixture(scope="session")
def workbook_path(publication: Publication) -> Path:
    """The workbook of the session's publication."""
    from reports.workbook import write_workbook

    return write_workbook(publication.snapshot, publication.publish_dir / "scorecards.xlsx")


#: Hostile text planted in a copy of the snapshot: (table, key column, key value, column, text).
HOSTILE = (
    (
        "dim_region",
        "region_code",
        "330102",
        "name_zh",
        '=HYPERLINK("http://evil.example","<script>x()</script>")',
    ),
    ("dim_region", "region_code", "330102", "name_en", "\tcmd"),
    ("dim_measure", "measure_code", "PP01", "name_zh", "+SUM(1,2)"),
    ("dim_measure", "measure_code", "PP01", "name_en", "\r=1+1"),
)


@pytest.fixture
def hostile_snapshot(publication: Publication, tmp_path: Path) -> Path:
    """A copy of the snapshot whose names and alert messages try formula and HTML injection."""
    import shutil

    copy = tmp_path / "hostile" / "scorecards.duckdb"
    copy.parent.mkdir()
    shutil.copyfile(publication.snapshot, copy)
    os.chmod(copy, stat.S_IRUSR | stat.S_IWUSR)
    with duckdb.connect(str(copy)) as con:
        for table, key, value, column, text in HOSTILE:
            con.execute(f"update marts.{table} set {column} = ? where {key} = ?", [text, value])
        # an alert about a city: on every alerts sheet of the workbook (the earlier years of the
        # counties' alerts are in the Parquet files only)
        first = con.execute(
            "select min(a.alert_id) from marts.fct_alerts as a join marts.dim_region as r"
            " on a.region_code = r.region_code where r.region_level = 'city'"
        ).fetchone()[0]
        assert first is not None, "the generated data should raise alerts"
        con.execute(
            "update marts.fct_alerts set message_zh = ?, message_en = ? where alert_id = ?",
            ["-2+3+cmd|' /C calc'!A0", "@SUM(A1:A9)", first],
        )
    return copy


@pytest.fixture(scope="session")
def loaded_workbook(workbook_path: Path) -> Workbook:
    """The session's workbook read once by openpyxl in full mode (styles, formats, widths): each
    load took 20-48 s of a test under load 7-10, and the tests only read it (never change it)."""
    from openpyxl import load_workbook

    return load_workbook(workbook_path)
