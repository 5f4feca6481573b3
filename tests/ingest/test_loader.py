"""The loader: ledger, quarantine, file moves, duplicates, versions, crash safety, formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest
from ingest_test_helpers import query, write_inbox_file, xlsx_bytes

import ingest.commit as commit
from ingest import cli
from ingest.loader import infer_department, load_file, load_paths, safe_file_name
from ingest.reference import load_reference
from ingest.templates import write_templates
from scorecard.core.settings import Settings

HEADERS_EN = ["region_code", "measure_code", "period", "value", "numerator", "denominator", "unit", "note"]
HEADERS_ZH = ["行政区划代码", "指标代码", "统计期", "数值", "分子", "分母", "单位", "备注"]
ROWS = [
    ["330102", "PP01", "2023", "1,000", "", "", "元/月", "按月标准"],
    ["330102", "PP03A", "2023", "", "45", "50", "", ""],
    ["330105", "PP03A", "2023", "92.5%", "", "", "", ""],
    ["330105", "PP04", "2023-Q2", "２０", "", "", "%", ""],
]
EXPECTED = {
    ("330102", "PP01", "2023"): (12000.0, None, None, "按月标准"),
    ("330102", "PP03A", "2023"): (90.0, 45.0, 50.0, None),
    ("330105", "PP03A", "2023"): (92.5, None, None, None),
    ("330105", "PP04", "2023-Q2"): (20.0, None, None, None),
}


def csv_bytes(
    headers: list[str], rows: list[list[str]], encoding: str = "utf-8", title: str | None = None
) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    if title:
        writer.writerow([title])
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def submissions(settings: Settings, file_id: int) -> dict[tuple, tuple]:
    rows = query(
        settings,
        "SELECT region_code, measure_code, period, value, numerator, denominator, note "
        "FROM raw.submissions WHERE file_id = ?",
        [file_id],
    )
    return {row[:3]: row[3:] for row in rows}


def assert_accounting(settings: Settings) -> None:
    """rows_loaded + rows_rejected = rows_input, and the tables agree with the ledger."""
    for file_id, rows_input, loaded, rejected in query(
        settings, "SELECT file_id, rows_input, rows_loaded, rows_rejected FROM raw.file_ledger"
    ):
        assert loaded + rejected == rows_input, file_id
        in_tables = query(
            settings,
            "SELECT (SELECT count(*) FROM raw.submissions WHERE file_id = $id)"
            " + (SELECT count(*) FROM raw.status_reports WHERE file_id = $id),"
            " (SELECT count(DISTINCT row_ref) FROM raw.quarantine WHERE file_id = $id)",
            {"id": file_id},
        )[0]
        assert in_tables == (loaded, rejected), file_id


def test_same_rows_in_three_formats_load_identically(settings: Settings) -> None:
    gb_csv = write_inbox_file(settings, "social_assistance", "a.csv", csv_bytes(HEADERS_ZH, ROWS, "gb18030"))
    bilingual = [f"{zh} {en}" for zh, en in zip(HEADERS_ZH, HEADERS_EN, strict=True)]
    workbook = xlsx_bytes([["2023年社会救助数据报送表"], ["填报单位：社会救助处"], bilingual, *ROWS])
    titled = write_inbox_file(settings, "social_assistance", "b.xlsx", workbook)
    records = [dict(zip(HEADERS_EN, row, strict=True)) for row in ROWS]
    document = json.dumps({"department": "social_assistance", "records": records}, ensure_ascii=False)
    as_json = settings.inbox / "c.json"  # at the inbox root: the department comes from the field
    as_json.write_text(document, encoding="utf-8")
    results = [load_file(path, settings=settings) for path in (gb_csv, titled)]
    results.append(load_file(as_json, settings=settings, department=None))
    assert [r.status for r in results] == ["loaded", "loaded", "loaded"], [r.issues for r in results]
    loaded = [submissions(settings, r.file_id) for r in results]
    assert loaded[0] == EXPECTED
    assert loaded[0] == loaded[1] == loaded[2]
    refs = query(settings, "SELECT file_id, min(row_ref) FROM raw.submissions GROUP BY 1 ORDER BY 1")
    assert [ref for _, ref in refs] == ["row 2", "Sheet1!A4:H4", "records[0]"]
    assert_accounting(settings)


def test_bad_rows_are_quarantined_and_the_file_archived(settings: Settings) -> None:
    rows = [
        *ROWS,
        ["339999", "PP03A", "2023", "50", "", "", "", ""],
        ["330102", "PP04", "2023", "120%", "", "", "", ""],
    ]
    path = write_inbox_file(settings, "social_assistance", "mixed.csv", csv_bytes(HEADERS_EN, rows))
    result = load_file(path, settings=settings)
    assert (result.status, result.rows_input, result.rows_loaded, result.rows_rejected) == (
        "loaded_with_rejects",
        6,
        4,
        2,
    )
    quarantine = query(
        settings, "SELECT row_ref, field, reason_code, reason_zh, raw_record FROM raw.quarantine"
    )
    assert sorted(q[:3] for q in quarantine) == [
        ("row 6", "region_code", "REGION_UNKNOWN"),
        ("row 7", "value", "RATE_OUT_OF_RANGE"),
    ]
    raw = json.loads(next(q[4] for q in quarantine if q[0] == "row 6"))
    assert raw["region_code"] == "339999"
    assert not path.exists()
    assert result.stored_path == settings.archive / "social_assistance" / f"{result.file_id}__mixed.csv"
    assert result.stored_path.exists()
    errors = json.loads(Path(str(result.stored_path) + ".errors.json").read_text(encoding="utf-8"))
    assert {e["reason_code"] for e in errors} == {"REGION_UNKNOWN", "RATE_OUT_OF_RANGE"}
    assert all(set(e) == {"row", "field", "reason_code", "reason_zh", "reason_en"} for e in errors)
    ledger = query(
        settings, "SELECT status, periods, received_at::DATE::VARCHAR, stored_path FROM raw.file_ledger"
    )
    assert ledger == [("loaded_with_rejects", "2023,2023-Q2", "2026-01-15", str(result.stored_path))]
    assert_accounting(settings)


@pytest.mark.parametrize(
    ("name", "data", "department", "code", "rows"),
    [
        ("x.doc", b"hello", "social_assistance", "FILE_FORMAT_UNKNOWN", 0),
        ("x.csv", b"", "social_assistance", "FILE_EMPTY", 0),
        ("x.csv", b"\xef\xbb\xbf\r\n", "social_assistance", "FILE_EMPTY", 0),
        ("x.csv", csv_bytes(HEADERS_ZH, []), "social_assistance", "FILE_HEADER_ONLY", 0),
        (
            "x.csv",
            csv_bytes(["a", "b"], [["1", "2"], ["3", "4"]]),
            "social_assistance",
            "HEADER_UNRECOGNIZED",
            3,
        ),
        ("x.csv", csv_bytes(HEADERS_EN, ROWS), "no_such_division", "DEPARTMENT_UNKNOWN", 4),
        (
            "x.json",
            json.dumps(
                {
                    "department": "child_welfare",
                    "records": [
                        {"region_code": "330102", "measure_code": "PP01", "period": "2023", "value": 1}
                    ],
                }
            ).encode(),
            "social_assistance",
            "DEPARTMENT_CONFLICT",
            1,
        ),
        ("x.json", b"{oops", "social_assistance", "JSON_INVALID", 0),
        ("x.xlsx", b"PK not really", "social_assistance", "FILE_UNREADABLE", 0),
    ],
)
def test_rejected_files(
    settings: Settings, name: str, data: bytes, department: str, code: str, rows: int
) -> None:
    path = write_inbox_file(settings, department, name, data)
    result = load_file(path, settings=settings)
    assert result.status == "rejected"
    assert result.issues[0].reason_code == code
    assert (result.rows_input, result.rows_loaded, result.rows_rejected) == (rows, 0, rows)
    assert query(settings, "SELECT count(*) FROM raw.quarantine WHERE reason_code = ?", [code]) == [(rows,)]
    assert not path.exists()
    assert result.stored_path.parent.parent == settings.rejected
    assert Path(str(result.stored_path) + ".errors.json").exists()
    assert_accounting(settings)


def test_file_without_any_department(settings: Settings) -> None:
    path = settings.inbox / "loose.csv"
    path.write_bytes(csv_bytes(HEADERS_EN, ROWS))
    result = load_file(path, settings=settings)
    assert (result.status, result.issues[0].reason_code) == ("rejected", "DEPARTMENT_MISSING")
    assert result.stored_path.parent == settings.rejected / "_unknown"


def test_file_over_the_size_limit(settings: Settings) -> None:
    small = Settings(home=settings.home, as_of=settings.as_of, max_file_bytes=100)
    path = write_inbox_file(settings, "social_assistance", "big.csv", csv_bytes(HEADERS_EN, ROWS * 5))
    result = load_file(path, settings=small)
    assert (result.status, result.issues[0].reason_code) == ("rejected", "FILE_TOO_LARGE")


def test_all_rows_bad_rejects_the_file(settings: Settings) -> None:
    path = write_inbox_file(
        settings,
        "social_assistance",
        "bad.csv",
        csv_bytes(HEADERS_EN, [["330102", "PP03A", "1999", "1", "", "", "", ""]]),
    )
    result = load_file(path, settings=settings)
    assert (result.status, result.rows_rejected) == ("rejected", 1)
    assert [i.reason_code for i in result.issues] == ["ALL_ROWS_REJECTED", "PERIOD_OUT_OF_WINDOW"]


def test_department_column_must_match_the_folder(settings: Settings) -> None:
    rows = [
        ["330102", "PP03A", "2023", "90", "child_welfare"],
        ["330105", "PP03A", "2023", "90", "社会救助处"],
    ]
    path = write_inbox_file(
        settings,
        "social_assistance",
        "d.csv",
        csv_bytes(["region_code", "measure_code", "period", "value", "部门"], rows),
    )
    result = load_file(path, settings=settings)
    assert result.status == "loaded_with_rejects"
    assert [(i.row_ref, i.reason_code) for i in result.issues] == [("row 2", "DEPARTMENT_MISMATCH")]


def test_same_bytes_again_is_a_duplicate(settings: Settings) -> None:
    data = csv_bytes(HEADERS_EN, ROWS)
    first = load_file(write_inbox_file(settings, "social_assistance", "one.csv", data), settings=settings)
    again = load_file(write_inbox_file(settings, "social_assistance", "two.csv", data), settings=settings)
    assert (again.status, again.duplicate_of, again.rows_loaded) == ("duplicate", first.file_id, 0)
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(4,)]
    assert query(settings, "SELECT status FROM raw.file_ledger ORDER BY file_id") == [
        ("loaded",),
        ("duplicate",),
    ]
    assert again.stored_path.exists()


def test_correction_supersedes_and_history_keeps_both(settings: Settings) -> None:
    first = load_file(
        write_inbox_file(settings, "social_assistance", "v1.csv", csv_bytes(HEADERS_EN, ROWS)),
        settings=settings,
    )
    partial = [["330102", "PP03A", "2023", "", "46", "50", "", "更正"]]
    second = load_file(
        write_inbox_file(settings, "social_assistance", "v2.csv", csv_bytes(HEADERS_EN, partial)),
        settings=settings,
    )
    # A partial correction: the first file still carries three current values.
    assert query(settings, "SELECT status FROM raw.file_ledger WHERE file_id = ?", [first.file_id]) == [
        ("loaded",)
    ]
    corrected = [list(row) for row in ROWS]
    corrected[1] = partial[0]
    third = load_file(
        write_inbox_file(settings, "social_assistance", "v3.csv", csv_bytes(HEADERS_EN, corrected)),
        settings=settings,
    )
    statuses = dict(query(settings, "SELECT file_id, status FROM raw.file_ledger"))
    assert statuses == {first.file_id: "superseded", second.file_id: "superseded", third.file_id: "loaded"}
    history = query(
        settings,
        "SELECT file_id, value FROM raw.submissions WHERE region_code = '330102' "
        "AND measure_code = 'PP03A' ORDER BY file_id",
    )
    assert history == [(first.file_id, 90.0), (second.file_id, 92.0), (third.file_id, 92.0)]


def test_a_crash_mid_load_leaves_everything_as_it_was(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_file(
        write_inbox_file(settings, "social_assistance", "before.csv", csv_bytes(HEADERS_EN, ROWS[:1])),
        settings=settings,
    )
    rows = [*ROWS[1:], ["339999", "PP03A", "2023", "50", "", "", "", ""]]
    path = write_inbox_file(settings, "social_assistance", "crash.csv", csv_bytes(HEADERS_EN, rows))
    snapshot = [
        query(settings, f"SELECT count(*) FROM raw.{t}") for t in ("file_ledger", "submissions", "quarantine")
    ]
    original_insert = commit._insert_arrow

    def insert_then_crash(con, table_name, arrow_table):
        original_insert(con, table_name, arrow_table)
        if table_name == "status_reports":  # submissions are in, quarantine and ledger are not
            raise RuntimeError("power cut")

    monkeypatch.setattr(commit, "_insert_arrow", insert_then_crash)
    with pytest.raises(RuntimeError, match="power cut"):
        load_file(path, settings=settings)
    after = [
        query(settings, f"SELECT count(*) FROM raw.{t}") for t in ("file_ledger", "submissions", "quarantine")
    ]
    assert after == snapshot
    assert path.exists()
    assert not any((settings.archive / "social_assistance").glob("*crash*"))

    failed = load_paths([path], settings=settings)  # still crashing: reported, file kept
    assert failed[0].status == "failed" and path.exists()

    monkeypatch.setattr(commit, "_insert_arrow", original_insert)
    retry = load_paths([path], settings=settings)[0]
    assert (retry.status, retry.rows_loaded, retry.rows_rejected) == ("loaded_with_rejects", 3, 1)
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(4,)]
    assert not path.exists()
    assert_accounting(settings)


def test_crash_after_commit_before_move_converges(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_inbox_file(settings, "social_assistance", "late.csv", csv_bytes(HEADERS_EN, ROWS))

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(commit, "_store", crash)
    with pytest.raises(OSError):
        load_file(path, settings=settings)
    monkeypatch.undo()
    retry = load_file(path, settings=settings)
    # The retry finds the file recorded but not moved, and only moves it: one ledger row (issue
    # #23 point 8; it used to add a "duplicate" receipt).
    assert retry.status == "loaded" and retry.file_id == 1 and not path.exists()
    assert query(settings, "SELECT count(*) FROM raw.file_ledger") == [(1,)]
    assert query(settings, "SELECT count(*) FROM raw.submissions") == [(4,)]


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.csv", "x.csv"),
        (".hidden.csv", "hidden.csv"),
        ("报送 数据(1).csv", "报送_数据_1_.csv"),
        ("", "file"),
        ("a;rm -rf.csv", "a_rm_-rf.csv"),
    ],
)
def test_file_names_are_never_paths(name: str, safe: str) -> None:
    assert safe_file_name(name) == safe


def test_department_from_folders(settings: Settings) -> None:
    reference = load_reference(settings)
    inbox = settings.inbox
    assert infer_department(inbox / "elderly_care" / "x.csv", settings, reference) == "elderly_care"
    assert infer_department(inbox / "elderly_care" / "2023" / "x.csv", settings, reference) == "elderly_care"
    assert infer_department(inbox / "nobody" / "x.csv", settings, reference) == "nobody"
    assert infer_department(inbox / "x.csv", settings, reference) is None
    root = settings.home / "elsewhere" / "child_welfare"
    assert infer_department(root / "x.csv", settings, reference, root) == "child_welfare"


def test_symlinks_are_refused(settings: Settings, tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_bytes(csv_bytes(HEADERS_EN, ROWS))
    link = settings.inbox / "social_assistance" / "link.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    result = load_file(link, settings=settings)
    assert (result.status, result.issues[0].reason_code) == ("rejected", "FILE_NOT_REGULAR")
    assert secret.exists()


def test_files_outside_the_inbox_are_copied_not_moved(settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "drop" / "social_assistance"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(csv_bytes(HEADERS_EN, ROWS))
    (folder / "a.csv.errors.json").write_text("[]")
    (folder / ".hidden.csv").write_text("x")
    results = load_paths([tmp_path / "drop"], settings=settings)
    assert [(r.file_name, r.department_code, r.status) for r in results] == [
        ("a.csv", "social_assistance", "loaded")
    ]
    assert (folder / "a.csv").exists()
    assert load_paths([tmp_path / "drop"], settings=settings)[0].status == "duplicate"


def test_status_reports_load(settings: Settings) -> None:
    rows = [
        ["PP-P01", "", "2023", "已出台", "2023/5/12", "浙民发〔2023〕12号"],
        ["PP-W01", "330000", "2023", "in progress", "", ""],
    ]
    headers = ["事项编码", "行政区划代码", "统计期", "状态", "日期", "佐证"]
    result = load_file(
        write_inbox_file(settings, "social_assistance", "s.csv", csv_bytes(headers, rows)), settings=settings
    )
    assert (result.status, result.layout, result.rows_loaded) == ("loaded", "status", 2)
    assert query(
        settings,
        "SELECT item_code, region_code, status, status_date::VARCHAR, evidence "
        "FROM raw.status_reports ORDER BY item_code",
    ) == [
        ("PP-P01", "330000", "issued", "2023-05-12", "浙民发〔2023〕12号"),
        ("PP-W01", "330000", "in_progress", None, None),
    ]


def test_wide_form_loads_with_period_from_title(settings: Settings) -> None:
    headers = [
        "行政区划代码",
        "行政区划名称",
        "持证养老护理员数（人）",
        "60岁及以上老年人口数（人）",
        "康养联合体数（个）",
        "智慧养老院数（家）",
    ]
    rows = [
        ["2024年第3季度养老服务统计报表"],
        headers,
        ["330102", "上城区", 50, 20000, 3, None],
        ["330105", "拱墅区", 40, 0, -1, 2],
    ]
    result = load_file(
        write_inbox_file(settings, "elderly_care", "w.xlsx", xlsx_bytes(rows, "报表")), settings=settings
    )
    assert (result.layout, result.rows_input, result.rows_loaded) == ("wide", 5, 3)
    loaded = query(
        settings, "SELECT row_ref, measure_code, period, value FROM raw.submissions ORDER BY row_ref"
    )
    # 25 nurses per 10k elderly; the blank 智慧养老院数 cell of row 3 makes no record.
    assert loaded == [
        ("报表!C3:D3", "EC01A", "2024-Q3", 25.0),
        ("报表!E3", "EC03A", "2024-Q3", 3.0),
        ("报表!F4", "EC05", "2024-Q3", 2.0),
    ]
    rejected = sorted((i.row_ref, i.reason_code) for i in result.issues)
    assert rejected == [("报表!C4:D4", "DENOMINATOR_NOT_POSITIVE"), ("报表!E4", "NEGATIVE_VALUE")]


def test_templates_filled_in_load(settings: Settings, tmp_path: Path) -> None:
    written = write_templates(tmp_path / "templates", settings)
    names = {path.name for path in written}
    assert {"elderly_care.xlsx", "elderly_care.csv", "elderly_care_status.csv"} <= names
    workbook = openpyxl.load_workbook(tmp_path / "templates" / "social_assistance.xlsx")
    assert workbook.sheetnames == ["数据", "状态", "说明"]
    workbook["数据"].append(["330102", "上城区", "PP03A", "2023", None, 45, 50, None, None])
    workbook.save(settings.inbox / "filled.xlsx")
    result = load_file(settings.inbox / "filled.xlsx", settings=settings, department="social_assistance")
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    blank = tmp_path / "templates" / "social_assistance.csv"
    assert load_file(blank, settings=settings, department="social_assistance").issues[0].reason_code == (
        "FILE_HEADER_ONLY"
    )


def test_cli_prints_a_table_and_sets_the_exit_code(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from scorecard.cli import main

    write_inbox_file(settings, "social_assistance", "good.csv", csv_bytes(HEADERS_EN, ROWS))
    assert main(["ingest"]) == 0
    assert "good.csv" in capsys.readouterr().out
    write_inbox_file(
        settings,
        "social_assistance",
        "bad.csv",
        csv_bytes(HEADERS_EN, [*ROWS[:1], ["330102", "XX", "2024", "1", "", "", "", ""]]),
    )
    assert main(["ingest", str(settings.inbox)]) == 1
    out = capsys.readouterr().out
    assert "loaded_with_rejects" in out and "MEASURE" not in out and "XX" in out
    assert cli.exit_code([]) == 0
