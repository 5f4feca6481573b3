"""Property-based hostile inputs (issue #23, acceptance): hypothesis generates variants of the
families the red team used, and every example is loaded into a fresh data directory and checked
against the invariants:

- every file is in the ledger exactly once, and rows_loaded + rows_rejected = rows_input, against
  the tables;
- every reason is bounded in size and the side files grow linearly with the file;
- no personal identifier is stored anywhere: raw tables, side files, stored names, the console;
- nothing outside the inbox is read;
- every value stored lies inside its measure's plausible range, the range staging keeps, so no
  loaded value can fail the build (the build itself: test_hostile_round_two.py::test_3_the_build_…).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from reliability_helpers import HEADER, csv_text

from ingest.cli import format_results
from ingest.loader import load_paths
from ingest.pii import SEPARATORS, id_check_character
from ingest.reference import load_reference
from scorecard.core.settings import Settings
from tests.hypothesis_profiles import examples

EXAMPLES = hypothesis_settings(
    max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MAX_REASON_CHARS = 600
OUTSIDE_MARK = "never-read-outside-the-inbox"


@contextlib.contextmanager
def fresh_home(settings: Settings) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        home = dataclasses.replace(settings, home=Path(folder) / "home")
        home.ensure_dirs()
        yield home


def _rows(home: Settings, sql: str) -> list[tuple]:
    if not home.warehouse_path.exists():
        return []
    with duckdb.connect(str(home.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _written(home: Settings, console: str) -> str:
    parts = [console]
    for table in ("file_ledger", "quarantine", "submissions", "status_reports"):
        parts.extend(str(row) for row in _rows(home, f"SELECT * FROM raw.{table}"))
    for folder in (home.archive, home.rejected):
        for path in folder.rglob("*"):
            parts.append(str(path))
            if path.name.endswith(".errors.json"):
                parts.append(path.read_text(encoding="utf-8"))
    return "\n".join(parts)


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isascii() and char.isdigit())


def check_invariants(home: Settings, files: int, results: list) -> str:
    """The invariants every example must keep; returns what was written (for further checks)."""
    console = format_results(results)
    ledger = _rows(home, "SELECT file_id, rows_input, rows_loaded, rows_rejected FROM raw.file_ledger")
    assert len(ledger) == files == len(results), [r.message for r in results]
    assert all(r.status != "failed" for r in results), [r.message for r in results]
    for file_id, rows_input, loaded, rejected in ledger:
        assert loaded + rejected == rows_input
        in_tables = _rows(home, f"SELECT count(*) FROM raw.submissions WHERE file_id = {file_id}")[0][0]
        in_tables += _rows(home, f"SELECT count(*) FROM raw.status_reports WHERE file_id = {file_id}")[0][0]
        refused = _rows(home, f"SELECT count(DISTINCT row_ref) FROM raw.quarantine WHERE file_id = {file_id}")
        assert (in_tables, refused[0][0]) == (loaded, rejected)
    longest = _rows(home, "SELECT max(length(reason_zh)), max(length(reason_en)) FROM raw.quarantine")
    assert all((value or 0) < MAX_REASON_CHARS for value in longest[0])
    assert not [p for p in home.inbox.rglob("*") if p.is_file() or p.is_symlink()]
    written = _written(home, console)
    assert OUTSIDE_MARK not in written
    assert "\x1b" not in written
    return written


# --- family 1: duplicate keys at scale --------------------------------------------------------------


@EXAMPLES
@given(
    copies=st.integers(2, 3000),
    keys=st.integers(1, 3),
    extra_good=st.integers(0, 5),
)
def test_duplicate_keys_at_scale_stay_bounded(
    settings: Settings, copies: int, keys: int, extra_good: int
) -> None:
    regions = ["330102", "330105", "330106"]
    rows = [[regions[i % keys], "EC05", "2023", "5"] for i in range(copies)]
    rows += [["330108", "EC05", str(2021 + i % 5), "1"] for i in range(extra_good)][: min(extra_good, 5)]
    content = csv_text(HEADER[:4], rows)
    with fresh_home(settings) as home:
        path = home.inbox / "elderly_care" / "dupes.csv"
        path.parent.mkdir(parents=True)
        path.write_text(content, encoding="utf-8")
        results = load_paths(settings=home)
        check_invariants(home, 1, results)
        for errors in [*home.rejected.rglob("*.errors.json"), *home.archive.rglob("*.errors.json")]:
            assert errors.stat().st_size <= 1000 * len(rows) + 4096  # linear in the file


# --- family 2: personal-data spellings ------------------------------------------------------------


def _resident_id(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "330102", "440305", "510104"]))
    born = draw(
        st.dates(
            min_value=datetime.date(1930, 1, 1),
            max_value=datetime.date(2010, 12, 31),
        )
    )
    sequence = f"{draw(st.integers(0, 999)):03d}"
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + id_check_character(first17)


@st.composite
def spelled_identifier(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["mobile", "id18", "id15"]))
    if kind == "mobile":
        digits = (
            "1"
            + draw(st.sampled_from("3456789"))
            + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=9, max_size=9)))
        )
    elif kind == "id18":
        digits = _resident_id(draw)
    else:
        born = draw(
            st.dates(
                min_value=datetime.date(1930, 1, 1),
                max_value=datetime.date(1999, 12, 31),
            )
        )
        digits = f"{draw(st.sampled_from(['110105', '330102']))}{born:%y%m%d}{draw(st.integers(0, 999)):03d}"
    separators = SEPARATORS + "\u200b\u200c\u2060\ufeff"
    out = []
    for index, char in enumerate(digits):
        if draw(st.booleans()) and draw(st.integers(0, 3)) == 0:
            char = chr(ord(char) - ord("0") + 0xFF10) if char.isdigit() else char  # full-width
        out.append(char)
        if index < len(digits) - 1 and draw(st.integers(0, 4)) == 0:
            out.append("".join(draw(st.lists(st.sampled_from(separators), min_size=1, max_size=2))))
    prefix = draw(st.sampled_from(["", "A", "电话", "ID:", "tel "]))
    return prefix + "".join(out)


@EXAMPLES
@given(
    identifier=spelled_identifier(),
    where=st.sampled_from(["note", "header", "json_key", "json_value", "name"]),
)
def test_personal_data_spellings_are_never_stored(settings: Settings, identifier: str, where: str) -> None:
    core = _digits(
        "".join(chr(ord(c) - 0xFF10 + ord("0")) if "\uff10" <= c <= "\uff19" else c for c in identifier)
    )
    with fresh_home(settings) as home:
        folder = home.inbox / "elderly_care"
        folder.mkdir(parents=True)
        name = "f.csv"
        if where == "note":
            content = csv_text(HEADER, [["330102", "EC05", "2023", "5", "", "", "", identifier]])
        elif where == "header":
            content = csv_text([*HEADER[:4], identifier], [["330102", "EC05", "2023", "5", "x"]])
        elif where in {"json_key", "json_value"}:
            import json

            record = {"region_code": "330102", "measure_code": "EC05", "period": "2023", "value": 5}
            record.update({identifier: "x"} if where == "json_key" else {"note": identifier})
            content, name = json.dumps([record], ensure_ascii=False), "f.json"
        else:
            content = csv_text(HEADER[:4], [["330102", "EC05", "2023", "5"]])
            name = identifier.replace("/", "_") + ".csv"
        (folder / name).write_text(content, encoding="utf-8")
        results = load_paths(settings=home)
        written = check_invariants(home, 1, results)
        assert results[0].status == "rejected", (identifier, results[0].message)
        assert core not in _digits(written), identifier


# --- family 3: numeric extremes ---------------------------------------------------------------------

EXTREME_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(
        ["1e308", "-0", "1e-320", "9" * 40, "nan", "inf", "1e20", "123000000000000000", "１２", "⑫"]
    ),
)


@EXAMPLES
@given(
    values=st.lists(
        st.tuples(st.sampled_from(["EC05", "EC01B", "EC01C"]), EXTREME_NUMBERS), min_size=1, max_size=8
    )
)
def test_numeric_extremes_never_store_an_implausible_value(
    settings: Settings, values: list[tuple[str, str]]
) -> None:
    regions = ["330102", "330105", "330106", "330108", "330109", "330110", "330111", "330112"]
    rows = [[regions[i], measure, "2023", value] for i, (measure, value) in enumerate(values)]
    reference = load_reference(settings)
    with fresh_home(settings) as home:
        path = home.inbox / "elderly_care" / "extremes.csv"
        path.parent.mkdir(parents=True)
        path.write_text(csv_text(HEADER[:4], rows), encoding="utf-8")
        check_invariants(home, 1, load_paths(settings=home))
        for measure, value in _rows(home, "SELECT measure_code, value FROM raw.submissions"):
            low, high = reference.measures[measure].min_value, reference.measures[measure].max_value
            assert low is not None and high is not None and low <= value <= high, (measure, value)


# --- family 4: names and encodings ------------------------------------------------------------------

NAME_BYTES = st.binary(min_size=1, max_size=200).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in {b".", b".."}
)


@EXAMPLES
@given(
    names=st.lists(NAME_BYTES, min_size=1, max_size=4, unique=True),
    encoding=st.sampled_from(["utf-8", "gbk", "utf-16", "utf-8-sig"]),
    link=st.booleans(),
)
def test_names_and_encodings_each_reach_the_ledger_once(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    names: list[bytes],
    encoding: str,
    link: bool,
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "outside.csv"
    outside.write_text(csv_text(HEADER[:4], [[OUTSIDE_MARK, "EC05", "2023", "1"]]), encoding="utf-8")
    content = csv_text(HEADER[:4], [["330102", "EC05", "2023", "5"], ["330105", "EC05", "2023", "数据"]])
    with fresh_home(settings) as home:
        folder = home.inbox / "elderly_care"
        folder.mkdir(parents=True)
        made = 0
        for raw in names:
            name = os.fsdecode(raw[:200].lstrip(b".") or b"x")
            if name.startswith(".") or name.endswith(".errors.json") or name == "faults_manifest.json":
                continue
            path = folder / name
            try:
                if link and made == 0:
                    path.symlink_to(outside)
                else:
                    path.write_bytes(content.encode(encoding))
            except OSError:
                continue  # a name the file system refuses is no input
            made += 1
        results = load_paths(settings=home)
        check_invariants(home, made, results)
