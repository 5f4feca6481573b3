"""Parse on any worker, commit on the warehouse worker: ``stage_file`` + ``commit_staged`` record
exactly what ``load_file`` records, and staging never opens the warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from ingest.loader import commit_staged, load_file, stage_file

TABLES = ("submissions", "status_reports", "quarantine")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample set with its fault files, generated once for the module (read it, or copy it)."""
    from samples.generate import generate
    from scorecard.core.settings import get_settings

    out = tmp_path_factory.mktemp("staging-sample")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCORECARD_HOME", str(out / "home"))
        mp.setenv("SCORECARD_AS_OF", "2026-01-15")  # as the settings fixture (tests/conftest.py)
        generate(out / "generated", settings=get_settings(), faults=True)
    return out / "generated"


def warehouse_rows(path: Path) -> dict[str, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for table in TABLES:
            columns = [
                r[0]
                for r in con.execute(f"DESCRIBE raw.{table}").fetchall()
                if r[0] not in ("loaded_at", "quarantined_at")
            ]
            out[table] = sorted(
                con.execute(f"SELECT {', '.join(columns)} FROM raw.{table}").fetchall(), key=repr
            )
        ledger = (
            "SELECT file_id, file_name, department_code, sha256, status, rows_loaded, rows_rejected, periods"
        )
        out["ledger"] = con.execute(f"{ledger} FROM raw.file_ledger ORDER BY file_id").fetchall()
    finally:
        con.close()
    return out


# End to end: 45 files (a year's sample and the fault files) loaded one way and staged and
# committed the other, each with its own warehouse connection (~4.5 s of CPU); make test runs it,
# make check the helpers' test below (four files through parse_claims and commit_claims).
@pytest.mark.slow
def test_stage_then_commit_equals_load(settings, generated: Path, tmp_path: Path, monkeypatch) -> None:
    from scorecard.core.settings import get_settings

    files = sorted(p for p in generated.rglob("*") if p.is_file() and p.name != "faults_manifest.json")
    files = [p for p in files if p.name.startswith("2025")] + [p for p in files if "fault" in str(p)][:25]
    assert len(files) > 20

    # the same files, loaded directly in one home and staged + committed in another
    direct_home, staged_home = tmp_path / "direct", tmp_path / "staged-home"
    results = {}
    for home, mode in ((direct_home, "load"), (staged_home, "stage")):
        monkeypatch.setenv("SCORECARD_HOME", str(home))
        here = get_settings()
        here.ensure_dirs()
        for source in files:
            target = here.processing / source.relative_to(generated)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        outcomes = []
        for source in files:
            path = here.processing / source.relative_to(generated)
            if mode == "load":
                outcomes.append(load_file(path, settings=here))
            else:
                stage = here.home / "staged" / path.name
                staged = stage_file(path, stage, settings=here)
                assert not here.warehouse_path.exists() or outcomes  # staging never creates it
                assert (stage / "staged.json").is_file() and (stage / "rows.parquet").is_file()
                assert path.exists()  # not moved before the commit
                outcomes.append(commit_staged(stage, settings=here))
                assert outcomes[-1].status == staged.status or outcomes[-1].status == "duplicate"
                assert not stage.exists()
        results[mode] = outcomes
        assert not [p for p in here.processing.rglob("*") if p.is_file()]  # all moved

    def summary(outcomes):
        return [
            (r.file_name, r.status, r.rows_loaded, r.rows_rejected, r.periods, r.message) for r in outcomes
        ]

    assert summary(results["stage"]) == summary(results["load"])
    assert {r.status for r in results["load"]} >= {"loaded", "rejected"}
    assert warehouse_rows(staged_home / "warehouse.duckdb") == warehouse_rows(
        direct_home / "warehouse.duckdb"
    )
    # the errors written beside rejected files are the same
    for folder in ("rejected", "archive"):
        direct = sorted(p.relative_to(direct_home) for p in (direct_home / folder).rglob("*.errors.json"))
        staged = sorted(p.relative_to(staged_home) for p in (staged_home / folder).rglob("*.errors.json"))
        assert direct == staged
        for relative in direct:
            assert (direct_home / relative).read_text() == (staged_home / relative).read_text()


def test_staging_a_file_twice_replaces_the_stage(settings, generated: Path) -> None:
    source = next(p for p in sorted(generated.rglob("*.csv")))
    target = settings.processing / source.parent.name / "claim1" / source.name
    target.parent.mkdir(parents=True)
    shutil.copy2(source, target)
    stage = settings.home / "staged" / "claim1"
    first = stage_file(target, stage, settings=settings)
    second = stage_file(target, stage, settings=settings)
    assert first.status == second.status and sorted(p.name for p in stage.iterdir()) == [
        "quarantine.parquet",
        "rows.parquet",
        "staged.json",
        "status_rows.parquet",
    ]
    assert not list(stage.parent.glob(".*partial"))
    assert not settings.warehouse_path.exists()
    result = commit_staged(stage, settings=settings)
    assert result.file_id == 1 and result.stored_path is not None and result.stored_path.exists()


class _Events:
    """Stands in for Airflow's outlet events: records what the commit announces."""

    def __init__(self) -> None:
        self.added: list[tuple[str, dict]] = []

    def __getitem__(self, alias):
        return self

    def add(self, asset, extra=None) -> None:
        self.added.append((asset.name, dict(extra or {})))


def test_parse_then_commit_through_the_task_helpers_is_idempotent(
    settings, generated: Path, tmp_path: Path
) -> None:
    """The DAG's helpers: claims parsed in two batches, committed in claim order; a retry of the
    commit (after everything was committed) commits nothing twice, also for a file loaded in place."""
    from scorecard.airflow.tasks import commit_claims, parse_batches, parse_claims

    for department in ("resettlement", "social_welfare"):  # a private copy: one is loaded in place
        shutil.copytree(generated / department, tmp_path / "g" / department)
    sources = sorted((tmp_path / "g" / "resettlement").glob("2025*")) + sorted(
        (tmp_path / "g" / "social_welfare").glob("2025*")
    )
    claims = []
    for number, source in enumerate(sources[:3]):
        target = settings.processing / source.parent.name / f"claim{number}@run" / source.name
        target.parent.mkdir(parents=True)
        shutil.copy2(source, target)
        claims.append({"path": str(target), "department": source.parent.name, "original_name": source.name})
    in_place = sources[3]  # a manual path outside our folders: loaded in place, copied to archive/
    claims.append({"path": str(in_place), "department": None, "original_name": in_place.name})

    batches = parse_batches(claims, tasks=2)
    staged = [parse_claims(batch) for batch in batches]
    assert not settings.warehouse_path.exists()  # parsing never opens the warehouse
    events = _Events()
    loaded = commit_claims(staged, events)
    assert [r["original_name"] for r in loaded] == [c["original_name"] for c in claims]
    assert [r["file_id"] for r in loaded] == [1, 2, 3, 4]
    assert {name for name, _ in events.added} == {"submissions_resettlement", "submissions_social_welfare"}
    assert in_place.exists()  # copied, not moved

    again = _Events()
    assert commit_claims(staged, again) == [] and again.added == []
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw.file_ledger").fetchone()[0] == 4
    finally:
        con.close()
    assert not [p for p in (settings.home / "staged").rglob("*") if p.is_file()]
