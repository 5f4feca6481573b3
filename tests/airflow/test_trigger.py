"""The inbox trigger, driven by asyncio: claims each file exactly once, leaves unfinished files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from scorecard.airflow.inbox import InboxScanner, InboxTrigger, MovedInWatch, adopt, is_candidate_name

OLD = time.time() - 3600


def drop(inbox: Path, relative: str, content: bytes = b"a,b\n1,2\n", *, age: float | None = 3600) -> Path:
    path = inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if age is not None:
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    return path


def make_trigger(tmp_path: Path, **kwargs) -> InboxTrigger:
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("min_age_seconds", 1.0)
    return InboxTrigger(inbox=str(tmp_path / "inbox"), processing=str(tmp_path / "processing"), **kwargs)


async def collect(
    triggers: list[InboxTrigger], *, want: int | None = None, seconds: float = 0.5
) -> list[dict]:
    """Run the triggers concurrently; stop after ``want`` events or ``seconds``."""
    events: list[dict] = []
    done = asyncio.Event()

    async def pump(trigger: InboxTrigger) -> None:
        async for event in trigger.run():
            events.append(event.payload)
            if want is not None and len(events) >= want:
                done.set()

    tasks = [asyncio.create_task(pump(t)) for t in triggers]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout=seconds)
    # let any event already claimed be reported, then stop the way the triggerer does
    await asyncio.sleep(0.05)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return events


def test_claims_each_file_once_with_department_from_folder(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "elderly_care/养老服务_2025Q4.csv")
    drop(inbox, "child_welfare/cw.xlsx", b"PK\x03\x04xlsx")
    drop(inbox, "loose.csv")

    events = asyncio.run(collect([make_trigger(tmp_path)], want=3, seconds=3))

    assert len(events) == 3
    by_name = {e["original_name"]: e for e in events}
    assert set(by_name) == {"养老服务_2025Q4.csv", "cw.xlsx", "loose.csv"}
    assert by_name["养老服务_2025Q4.csv"]["department"] == "elderly_care"
    assert by_name["cw.xlsx"]["department"] == "child_welfare"
    assert by_name["loose.csv"]["department"] is None
    assert by_name["cw.xlsx"]["size"] == len(b"PK\x03\x04xlsx")
    for event in events:
        claimed = Path(event["path"])
        assert claimed.is_file()
        assert claimed.name == event["original_name"]  # the loader sees the sender's file name
        assert claimed.is_relative_to(tmp_path / "processing")
    assert Path(by_name["cw.xlsx"]["path"]).parent.parent.name == "child_welfare"
    assert not [p for p in inbox.rglob("*") if p.is_file()]  # nothing left in the inbox

    # A restarted trigger (the triggerer restarts watchers) announces nothing again.
    assert asyncio.run(collect([make_trigger(tmp_path)], seconds=0.3)) == []


def test_ignores_hidden_partial_lock_and_fresh_files(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    ignored = [
        ".hidden.csv",
        "elderly_care/.~lock.file.xlsx#",
        "elderly_care/upload.csv.part",
        "elderly_care/upload.xlsx.tmp",
        "elderly_care/~$book.xlsx",
        ".staging/elderly_care/file.csv",
        "elderly_care/.partial/file.csv",
    ]
    for name in ignored:
        drop(inbox, name)
    fresh = drop(inbox, "elderly_care/just_arrived.csv", age=None)  # mtime = now

    events = asyncio.run(collect([make_trigger(tmp_path, min_age_seconds=30)], seconds=0.3))
    assert events == []
    for name in ignored:
        assert (inbox / name).exists(), name
    assert fresh.exists()

    # once the fresh file has been still for long enough it is claimed, and only it
    os.utime(fresh, (OLD, OLD))
    events = asyncio.run(collect([make_trigger(tmp_path, min_age_seconds=30)], want=1, seconds=2))
    assert [e["original_name"] for e in events] == ["just_arrived.csv"]


def test_a_growing_file_waits_until_its_size_is_stable(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    path = drop(inbox, "place_names/big.csv", b"x" * 10)
    scanner = InboxScanner(inbox, tmp_path / "processing", min_age_seconds=0)
    assert [c[1] for c in scanner.candidates()] == [Path("place_names/big.csv")]
    with path.open("ab") as fh:  # the sender is still writing
        fh.write(b"y" * 10)
    os.utime(path, (OLD, OLD))
    assert scanner.candidates() == []  # size changed since the previous scan
    assert [c[2] for c in scanner.candidates()] == [20]  # unchanged since: ready


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


def rename_in(inbox: Path, tmp_path: Path, relative: str, content: bytes = b"a,b\n1,2\n") -> Path:
    """Write a file beside the inbox and rename it in, as an upload client does (mtime: now)."""
    source = tmp_path / "outgoing" / Path(relative).name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(content)
    target = inbox / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


@linux_only
def test_a_file_renamed_in_needs_no_quiet_period_one_written_in_place_does(tmp_path: Path) -> None:
    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    (inbox / "elderly_care").mkdir(parents=True)
    watch = MovedInWatch.open(inbox)
    assert watch is not None
    try:
        scanner = InboxScanner(inbox, processing, min_age_seconds=3600)
        drop(inbox, "elderly_care/written_in_place.csv", age=None)  # mtime now, never renamed
        rename_in(inbox, tmp_path, "elderly_care/renamed.csv")
        # a folder made after the watch started: the rename that came with it may be missed (then
        # the file takes the quiet period, as before), later ones into it are heard
        rename_in(inbox, tmp_path, "new_department/first.csv")
        claims = list(scanner.claim_ready(moved_in=watch.moved_in()))
        assert [c.original_name for c in claims] == ["renamed.csv"]
        rename_in(inbox, tmp_path, "new_department/second.csv")
        claims = list(scanner.claim_ready(moved_in=watch.moved_in()))
        assert [c.original_name for c in claims] == ["second.csv"]
        # the fast path is for the renames it saw, once: the other files still wait
        assert list(scanner.claim_ready(moved_in=watch.moved_in())) == []
        assert (inbox / "elderly_care" / "written_in_place.csv").exists()
        assert (inbox / "new_department" / "first.csv").exists()
    finally:
        watch.close()


@linux_only
def test_the_trigger_wakes_up_for_a_file_renamed_in(tmp_path: Path) -> None:
    """A file renamed into the inbox is claimed at once: neither the scan interval nor the quiet
    period (both an hour here) stands between it and its event."""
    inbox = tmp_path / "inbox"
    drop(inbox, "elderly_care/already_there.csv")  # claimed by the first scan, after the watch started
    trigger = make_trigger(tmp_path, poll_interval=3600, min_age_seconds=3600)
    events: list[dict] = []

    async def run() -> None:
        async for event in trigger.run():
            events.append(event.payload)
            if len(events) == 1:
                rename_in(inbox, tmp_path, "elderly_care/just_uploaded.csv")
            else:
                return

    asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert [e["original_name"] for e in events] == ["already_there.csv", "just_uploaded.csv"]


def test_many_files_two_triggers_each_claimed_exactly_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    departments = ["elderly_care", "social_assistance", "resettlement"]
    names = {f"{departments[i % 3]}/f{i:03d}.csv" for i in range(60)}
    for name in names:
        drop(inbox, name, f"row {name}".encode())

    events = asyncio.run(collect([make_trigger(tmp_path), make_trigger(tmp_path)], want=60, seconds=5))

    assert sorted(e["relative_path"] for e in events) == sorted(names)  # no file twice, none lost
    claimed = [p for p in (tmp_path / "processing").rglob("*.csv")]
    assert len(claimed) == 60
    assert {p.read_text() for p in claimed} == {f"row {n}" for n in names}


def test_lost_race_is_skipped(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    drop(inbox, "elderly_care/a.csv")
    first = InboxScanner(inbox, tmp_path / "processing", min_age_seconds=0)
    second = InboxScanner(inbox, tmp_path / "processing", min_age_seconds=0)
    candidates_first = first.candidates()
    candidates_second = second.candidates()
    assert second.claim(*candidates_second[0]) is not None
    assert first.claim(*candidates_first[0]) is None  # FileNotFoundError -> skipped
    # and the loser leaves no empty claim folder behind
    assert len([p for p in (tmp_path / "processing").rglob("*") if p.is_dir()]) == 2  # dept + one claim


def test_unadopted_claims_are_announced_again_but_adopted_ones_never(tmp_path: Path) -> None:
    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    drop(inbox, "elderly_care/lost.csv")
    drop(inbox, "elderly_care/owned.csv")
    scanner = InboxScanner(inbox, processing, min_age_seconds=0)
    claims = {c.original_name: c for c in scanner.claim_ready()}  # claimed; one event was lost
    owned = adopt(Path(claims["owned.csv"].path), "run1")  # an ingest run holds the other
    assert owned is not None and "@run1" in owned.parent.name
    time.sleep(0.05)

    trigger = make_trigger(tmp_path, orphan_after_seconds=0.01, sweep_interval=0.01)
    events = asyncio.run(collect([trigger], want=1, seconds=2))

    assert [(e["original_name"], e["recovered"]) for e in events] == [("lost.csv", True)]
    assert events[0]["department"] == "elderly_care"
    assert events[0]["path"] == claims["lost.csv"].path  # it only wakes a run up: no move
    # a fresh claim is not an orphan
    assert asyncio.run(collect([make_trigger(tmp_path, orphan_after_seconds=60)], seconds=0.2)) == []


def test_adopt_gives_each_claim_to_exactly_one_run(tmp_path: Path) -> None:
    inbox, processing = tmp_path / "inbox", tmp_path / "processing"
    for i in range(5):
        drop(inbox, f"resettlement/f{i}.csv")
    scanner = InboxScanner(inbox, processing, min_age_seconds=0)
    paths = [Path(c.path) for c in scanner.claim_ready()]
    first = [adopt(p, "run-a") for p in paths[:3]]
    second = [adopt(p, "run-b") for p in paths]  # run b also sees all five (e.g. via the sweep)
    assert all(p is not None and p.is_file() for p in first)
    assert [p is None for p in second] == [True, True, True, False, False]
    assert scanner.unowned_claims(older_than_seconds=0) == []
    owners = sorted(p.parent.name.split("@")[1] for p in processing.rglob("*.csv"))
    assert owners == ["run-a"] * 3 + ["run-b"] * 2


def test_serialize_round_trip_and_defaults_from_settings(tmp_path: Path, monkeypatch) -> None:
    trigger = make_trigger(tmp_path, min_age_seconds=5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "scorecard.airflow.inbox.InboxTrigger"
    again = InboxTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)

    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path / "home"))
    scanner = InboxTrigger().scanner()
    assert scanner.inbox == tmp_path / "home" / "inbox"
    assert scanner.processing == tmp_path / "home" / "processing"
    assert scanner.inbox.is_dir()


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("a.csv", True),
        ("elderly_care/报送.xlsx", True),
        (".a.csv", False),
        ("x/.git/a.csv", False),
        ("a.csv.part", False),
        ("a.TMP", False),
        ("~$a.xlsx", False),
        ("a.crdownload", False),
    ],
)
def test_candidate_names(relative: str, expected: bool) -> None:
    assert is_candidate_name(Path(relative)) is expected


def test_a_run_conf_may_only_name_files_in_the_inbox(tmp_path: Path, monkeypatch) -> None:
    from scorecard.airflow.tasks import claim_manual_paths

    home = tmp_path / "home"
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    (home / "inbox" / "charity_social_work").mkdir(parents=True)
    (home / "processing").mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("region_code\n330102\n", encoding="utf-8")
    for named in (str(outside), "/etc/passwd", str(home / "inbox" / ".." / ".." / "secret.csv")):
        # a refusal fails the task at once: retrying cannot make the request acceptable
        with pytest.raises(AirflowFailException, match="refused"):
            claim_manual_paths([named])
    assert outside.exists()  # refused before anything was moved

    inside = home / "inbox" / "charity_social_work" / "2025.csv"
    inside.write_text("region_code\n330102\n", encoding="utf-8")
    (claim,) = claim_manual_paths([str(inside)])
    assert claim["department"] == "charity_social_work" and not inside.exists()


def test_a_missing_file_in_conf_fails_at_once(tmp_path: Path, monkeypatch) -> None:
    from scorecard.airflow.tasks import claim_manual_paths

    monkeypatch.setenv("SCORECARD_HOME", str(tmp_path / "home"))
    missing = tmp_path / "home" / "backfill" / "elderly_care" / "no-such.csv"
    with pytest.raises(AirflowFailException, match="no such file"):
        claim_manual_paths([str(missing)])


def test_the_documented_backfill_loads_files_from_the_backfill_folder(tmp_path: Path, monkeypatch) -> None:
    """docs/operations.md: old files go into <SCORECARD_HOME>/backfill/<department>/ and a run's conf
    names them; they are loaded in place (a copy is archived) with the folder's department."""
    import duckdb

    from scorecard.airflow.tasks import claim_manual_paths, commit_claim, parse_claim
    from scorecard.core.settings import get_settings

    home = tmp_path / "home"
    monkeypatch.setenv("SCORECARD_HOME", str(home))
    monkeypatch.setenv("SCORECARD_AS_OF", "2026-01-15")
    settings = get_settings()
    settings.ensure_dirs()
    old = settings.backfill / "resettlement" / "2021_resettlement_status.csv"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text("事项编码,行政区划代码,统计期,状态,日期,佐证,备注\nWS-P05,330000,2021,计划,2021-04-15,,\n")
    documented = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "/srv/scorecard/backfill/" in documented  # the documented command names this folder

    (claim,) = claim_manual_paths([str(old)])
    assert claim["manual"] and old.exists()  # loaded in place, never moved out of the folder
    staged = parse_claim(claim)
    assert staged["status"] == "loaded" and staged["department"] == "resettlement", staged
    summary = commit_claim(staged)
    assert summary is not None and summary["status"] == "loaded" and summary["rows_loaded"] == 1
    assert old.exists() and any(settings.archive.rglob(f"*__{old.name}"))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        ledger = con.execute("select file_name, status from raw.file_ledger").fetchall()
    assert ledger == [(old.name, "loaded")]
