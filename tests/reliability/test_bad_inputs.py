"""Bad inputs: every kind the issue lists, each with its expected status and reason, and nothing lost.

For every input: the status and the reason code (with the row and field it names), one ledger row,
the file moved out of the inbox with its bytes intact, and the accounting identity checked against
the tables: rows in ``raw.submissions``/``raw.status_reports`` + distinct rows in ``raw.quarantine``
= the ledger's ``rows_input`` = the data rows the test wrote. Files refused before they are read
(unknown type, over the size limit, a zip bomb, JSON too deep to parse) and files without data rows
count 0 input rows: for them the guarantee is that the whole file is kept byte for byte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from reliability_helpers import (
    GOOD_ROWS,
    HEADER,
    csv_text,
    patch_zip,
    query,
    sha256,
    table_accounting,
    xlsx_bytes,
)

from ingest.loader import load_file
from ingest.pii import id_check_character
from scorecard.core.settings import Settings


def resident_id(first17: str = "33010219900307123") -> str:
    return first17 + id_check_character(first17)


VALID_ID = resident_id()
BAD_CHECK_ID = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
MOBILE = "13800138000"
FULL_WIDTH_ID = VALID_ID.translate({c: c + 0xFEE0 for c in range(48, 58)})


@dataclass
class Case:
    id: str
    name: str
    data: Callable[[], bytes]
    status: str
    code: str | None  # the reason expected (first issue with this code); None: nothing refused
    rows_input: int  # data rows in the file, as the test wrote it
    rows_loaded: int
    department: str = "social_assistance"
    row_ref: str | None = None
    field_name: str | None = None
    max_file_bytes: int | None = None
    never_stored: str | None = None  # text that must never be stored (personal data)
    check: Callable[[Settings, int], None] | None = None
    message: str | None = None  # a fragment the ledger message must contain


TEXT = csv_text(HEADER, GOOD_ROWS)


def _truncated_mid_row() -> bytes:
    return TEXT[: TEXT.rindex("2023") + 2].encode()  # "330106,PP03A,20" and no line break


def _truncated_in_quotes() -> bytes:
    rows = [*GOOD_ROWS[:2], ["330106", "PP03A", "2023", "92", "", "", "", "第一行\n第二行"]]
    text = csv_text(HEADER, rows)
    return text[: text.index("第二行")].encode()


def _mixed_encodings() -> bytes:
    rows = [line.encode("utf-8") for line in TEXT.splitlines(keepends=True)]
    rows[1] = "330102,PP03A,2023,90,,,,备注甲\n".encode()
    rows[2] = "330105,PP03A,2023,,45,50,,备注乙\n".encode("gb18030")
    return b"".join(rows)


def _very_wide() -> bytes:
    extra = [f"x{i}" for i in range(1500)]
    rows = [[*row, *["1"] * 1500] for row in GOOD_ROWS]
    return csv_text(HEADER + extra, rows).encode()


@cache
def _zip_bomb() -> bytes:
    """A real zip bomb: ~0.3 MB that inflates to 300 MB (sizes honestly declared)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\0" * (1 << 20)
            for _ in range(300):
                member.write(chunk)
    return buffer.getvalue()


def _with_external_link() -> bytes:
    rows = [HEADER, *GOOD_ROWS]
    data = xlsx_bytes(rows)
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    link = (
        f'<externalLink xmlns="{main}" xmlns:r="{rel}"><externalBook r:id="rId1"><sheetNames>'
        '<sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>'
    )
    link_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{rel}/externalLinkPath" '
        'Target="file:///C:/Users/clerk/Desktop/source.xlsx" TargetMode="External"/></Relationships>'
    )
    return patch_zip(
        data,
        replace={
            # The value cell becomes a formula on the other workbook, with Excel's cached result.
            "xl/worksheets/sheet1.xml": lambda xml: re.sub(
                rb'<c r="D2"[^>]*>.*?</c>', b'<c r="D2"><f>[1]Sheet1!A1</f><v>90</v></c>', xml, count=1
            ),
            "xl/_rels/workbook.xml.rels": lambda xml: xml.replace(
                b"</Relationships>",
                f'<Relationship Id="rId99" Type="{rel}/externalLink" '
                'Target="externalLinks/externalLink1.xml"/></Relationships>'.encode(),
            ),
            "xl/workbook.xml": lambda xml: xml.replace(
                b"</sheets>",
                b'</sheets><externalReferences><externalReference r:id="rId99"/></externalReferences>',
            ),
        },
        add={
            "xl/externalLinks/externalLink1.xml": link.encode(),
            "xl/externalLinks/_rels/externalLink1.xml.rels": link_rels.encode(),
        },
    )


def _formula_without_result() -> bytes:
    rows = [HEADER, *GOOD_ROWS[:2], ["330106", "PP03A", "2023", "=D2+1", "", "", "", ""]]
    return xlsx_bytes(rows)


def _formula_with_cached_result() -> bytes:
    # Excel saves a formula with its last result; openpyxl writes none, so add one (90). The
    # formula itself (=1+1) would give 2: loading 90 proves it was not evaluated.
    data = xlsx_bytes([HEADER, ["330102", "PP03A", "2023", "=1+1"]])
    return patch_zip(
        data, replace={"xl/worksheets/sheet1.xml": lambda xml: re.sub(rb"<v\s*/>|<v></v>", b"<v>90</v>", xml)}
    )


def _check_cached_value(settings: Settings, file_id: int) -> None:
    assert query(settings, "SELECT value FROM raw.submissions WHERE file_id = ?", [file_id]) == [(90.0,)]


def _check_mixed_rows_readable(settings: Settings, file_id: int) -> None:
    raw = " ".join(
        r[0] for r in query(settings, "SELECT raw_record FROM raw.quarantine WHERE file_id = ?", [file_id])
    )
    assert "备注甲" in raw and "备注乙" in raw  # each line decoded in its own encoding, not mojibake


def _records_json(records: list[dict], department: str | None = "social_assistance") -> bytes:
    document: object = {"department": department, "records": records} if department else records
    return json.dumps(document, ensure_ascii=False).encode()


GOOD_RECORDS = [dict(zip(HEADER[:4], row[:4], strict=True)) for row in GOOD_ROWS]


def _deep_record() -> bytes:
    nested: object = "90"
    for _ in range(40):
        nested = {"v": nested}
    records = [*GOOD_RECORDS[:2], {**GOOD_RECORDS[2], "value": nested}]
    return _records_json(records)


def _sql_injection() -> bytes:
    rows = [
        GOOD_ROWS[0],
        ["330102", "x'); DROP TABLE raw.submissions; --", "2023", "1", "", "", "", ""],
        ["330105'; DELETE FROM raw.file_ledger; --", "PP03A", "2023", "1", "", "", "", ""],
    ]
    return csv_text(HEADER, rows).encode()


def _check_tables_intact(settings: Settings, file_id: int) -> None:
    assert query(settings, "SELECT count(*) FROM raw.file_ledger") == [(1,)]
    assert query(settings, "SELECT measure_code FROM raw.submissions") == [("PP03A",)]


def _rows_with(index: int, value: str, rows: list[list[str]] = GOOD_ROWS) -> list[list[str]]:
    changed = [list(row) for row in rows]
    changed[1][index] = value
    return changed


def _check_masked_row_kept(settings: Settings, file_id: int) -> None:
    (raw,) = query(settings, "SELECT raw_record FROM raw.quarantine WHERE row_ref = 'row 3'")[0]
    assert f"户主 {VALID_ID[:0]}" in raw and "*" * 18 in raw  # the row is kept, the number masked


def _pii_other_sheet() -> bytes:
    return xlsx_bytes([HEADER, *GOOD_ROWS], sheets={"说明": [["联系人"], ["张三", VALID_ID]]})


CASES = [
    Case(
        "truncated_csv_mid_row",
        "t.csv",
        _truncated_mid_row,
        "rejected",
        "FILE_TRUNCATED",
        3,
        0,
        row_ref="row 4",
    ),
    Case(
        "truncated_csv_inside_quotes",
        "t.csv",
        _truncated_in_quotes,
        "rejected",
        "FILE_TRUNCATED",
        3,
        0,
        row_ref="row 4",
    ),
    Case(
        "mixed_encodings",
        "m.csv",
        _mixed_encodings,
        "rejected",
        "FILE_ENCODING_MIXED",
        3,
        0,
        row_ref="line 3",
        check=_check_mixed_rows_readable,
    ),
    # The header cannot be found, so every non-blank line (the header too) is an input record.
    Case(
        "wrong_delimiter",
        "p.csv",
        lambda: csv_text(HEADER, GOOD_ROWS, "|").encode(),
        "rejected",
        "FILE_DELIMITER_UNSUPPORTED",
        4,
        0,
        row_ref="row 1",
    ),
    Case("empty_file", "e.csv", lambda: b"", "rejected", "FILE_EMPTY", 0, 0),
    Case(
        "bom_and_blank_lines_only",
        "e.csv",
        lambda: b"\xef\xbb\xbf \r\n\t\r\n",
        "rejected",
        "FILE_EMPTY",
        0,
        0,
    ),
    Case("header_only", "h.csv", lambda: csv_text(HEADER, []).encode(), "rejected", "FILE_HEADER_ONLY", 0, 0),
    Case("very_wide_file", "w.csv", _very_wide, "rejected", "FILE_TOO_WIDE", 3, 0, row_ref="row 1"),
    Case("zip_bomb_xlsx", "bomb.xlsx", _zip_bomb, "rejected", "XLSX_TOO_LARGE_UNPACKED", 0, 0),
    Case(
        "xlsx_formula_on_external_link",
        "link.xlsx",
        _with_external_link,
        "rejected",
        "XLSX_EXTERNAL_LINKS",
        3,
        0,
        message="source.xlsx",
    ),
    Case(
        "xlsx_formula_without_result",
        "f.xlsx",
        _formula_without_result,
        "loaded_with_rejects",
        "FORMULA_NOT_COMPUTED",
        3,
        2,
        row_ref="数据!A4:H4",
        field_name="value",
    ),
    Case(
        "xlsx_formula_with_cached_result",
        "c.xlsx",
        _formula_with_cached_result,
        "loaded",
        None,
        1,
        1,
        check=_check_cached_value,
    ),
    Case(
        "json_too_deep_to_parse",
        "d.json",
        lambda: b"[" * 100_000 + b"]" * 100_000,
        "rejected",
        "JSON_TOO_DEEP",
        0,
        0,
    ),
    Case("json_deeply_nested_record", "d.json", _deep_record, "rejected", "JSON_TOO_DEEP", 3, 0),
    Case(
        "json_integer_of_5000_digits",
        "n.json",
        lambda: b'[{"region_code": "330102", "value": ' + b"9" * 5000 + b"}]",
        "rejected",
        "JSON_INVALID",
        0,
        0,
    ),
    Case("unknown_extension", "report.exe", lambda: TEXT.encode(), "rejected", "FILE_FORMAT_UNKNOWN", 0, 0),
    Case(
        "legacy_xls_extension",
        "report.xls",
        lambda: b"\xd0\xcf\x11\xe0",
        "rejected",
        "FILE_FORMAT_UNKNOWN",
        0,
        0,
    ),
    Case(
        "oversized_file",
        "big.csv",
        lambda: TEXT.encode(),
        "rejected",
        "FILE_TOO_LARGE",
        0,
        0,
        max_file_bytes=64,
    ),
    Case(
        "schema_drift_extra_column",
        "x.csv",
        lambda: csv_text([*HEADER, "来源"], [[*row, "统计局"] for row in GOOD_ROWS]).encode(),
        "loaded",
        None,
        3,
        3,
        message="ignored unrecognised columns: 来源 (I)",
    ),
    Case(
        "schema_drift_missing_column",
        "x.csv",
        lambda: csv_text(HEADER[:3] + HEADER[6:], [row[:3] + row[6:] for row in GOOD_ROWS]).encode(),
        "rejected",
        "COLUMN_MISSING",
        3,
        0,
        row_ref="row 1",
        field_name="value",
    ),
    Case(
        "schema_drift_renamed_column",
        "x.csv",
        lambda: csv_text(["region_code", "指标编号", *HEADER[2:]], GOOD_ROWS).encode(),
        "rejected",
        "COLUMN_MISSING",
        3,
        0,
        row_ref="row 1",
        field_name="measure_code",
        message="指标编号 (B)",
    ),
    Case(
        "excel_date_serial_period_csv",
        "s.csv",
        lambda: csv_text(HEADER, _rows_with(2, "44927")).encode(),
        "loaded_with_rejects",
        "PERIOD_EXCEL_SERIAL",
        3,
        2,
        row_ref="row 3",
        field_name="period",
    ),
    Case(
        "excel_date_serial_period_xlsx",
        "s.xlsx",
        lambda: xlsx_bytes([HEADER, GOOD_ROWS[0], ["330105", "PP03A", 45108, 91]]),
        "loaded_with_rejects",
        "PERIOD_EXCEL_SERIAL",
        2,
        1,
        row_ref="数据!A3:H3",
        field_name="period",
    ),
    Case(
        "negative_count",
        "n.csv",
        lambda: csv_text(
            HEADER, [["330102", "EC03A", "2023", "12"], ["330105", "EC03A", "2023", "-3"]]
        ).encode(),
        "loaded_with_rejects",
        "NEGATIVE_VALUE",
        2,
        1,
        department="elderly_care",
        row_ref="row 3",
        field_name="value",
    ),
    Case(
        "numerator_above_denominator",
        "r.csv",
        lambda: csv_text(HEADER, _rows_with(4, "60")).encode(),
        "loaded_with_rejects",
        "NUMERATOR_EXCEEDS_DENOMINATOR",
        3,
        2,
        row_ref="row 3",
        field_name="numerator",
    ),
    Case(
        "sql_in_codes",
        "q.csv",
        _sql_injection,
        "loaded_with_rejects",
        "MEASURE_UNKNOWN",
        3,
        1,
        row_ref="row 3",
        field_name="measure_code",
        check=_check_tables_intact,
    ),
    Case(
        "resident_id_in_a_note",
        "p.csv",
        lambda: csv_text(HEADER, _rows_with(7, f"户主 {VALID_ID}")).encode(),
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        3,
        0,
        row_ref="row 3 col H",
        field_name="note",
        never_stored=VALID_ID[6:17],
        check=_check_masked_row_kept,
    ),
    Case(
        "full_width_resident_id",
        "p.csv",
        lambda: csv_text(HEADER, _rows_with(7, FULL_WIDTH_ID)).encode(),
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        3,
        0,
        field_name="note",
        never_stored=FULL_WIDTH_ID[6:17],
    ),
    Case(
        "mobile_in_json",
        "p.json",
        lambda: _records_json([*GOOD_RECORDS[:1], {**GOOD_RECORDS[1], "联系电话": "+86 138-0013-8000"}]),
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        2,
        0,
        row_ref="records[1]",
        field_name="联系电话",
        never_stored="0013-8000",
    ),
    Case(
        "mobile_in_region_column",
        "p.csv",
        lambda: csv_text(HEADER, _rows_with(0, MOBILE)).encode(),
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        3,
        0,
        field_name="region_code",
        never_stored=MOBILE,
    ),
    Case(
        "resident_id_on_another_sheet",
        "p.xlsx",
        _pii_other_sheet,
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        3,
        0,
        row_ref="说明!B2",
        never_stored=VALID_ID[6:17],
    ),
    Case(
        "resident_id_in_the_file_name",
        f"张三_{VALID_ID}.csv",
        lambda: TEXT.encode(),
        "rejected",
        "FILE_CONTAINS_PERSONAL_DATA",
        0,
        0,
        field_name="file_name",
        never_stored=VALID_ID[6:17],
    ),
    # Not personal data: 18 digits whose check character is wrong, an 11-digit number starting 12.
    Case(
        "id_like_number_failing_the_check_digit",
        "ok.csv",
        lambda: csv_text(HEADER, _rows_with(7, f"批次 {BAD_CHECK_ID} 12345678901")).encode(),
        "loaded",
        None,
        3,
        3,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(settings: Settings, case: Case) -> None:
    if case.max_file_bytes is not None:
        settings = dataclasses.replace(settings, max_file_bytes=case.max_file_bytes)
    data = case.data()
    path = settings.inbox / case.department / case.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

    result = load_file(path, settings=settings)

    # Status and reason: the issue names the file, and the row and field where there is one.
    assert result.status == case.status, result.issues[:3]
    codes = [issue.reason_code for issue in result.issues]
    if case.code is None:
        assert codes == []
    else:
        assert case.code in codes, codes
        issue = result.issues[codes.index(case.code)]
        if case.row_ref is not None:
            assert issue.row_ref == case.row_ref
        if case.field_name is not None:
            assert issue.field == case.field_name
        assert issue.reason_en.startswith(f"file '{result.file_name}'")
        assert issue.reason_zh.startswith(f"文件「{result.file_name}」")
        if result.status == "rejected":
            assert result.issues[0].reason_code in {case.code, "ALL_ROWS_REJECTED"}

    # One ledger row, with the file's hash; the accounting identity against the tables.
    ledger = query(
        settings,
        "SELECT file_id, sha256, status, rows_input, rows_loaded, rows_rejected, message"
        " FROM raw.file_ledger",
    )
    assert len(ledger) == 1
    file_id, digest, status, rows_input, rows_loaded, rows_rejected, message = ledger[0]
    assert (file_id, status) == (result.file_id, case.status)
    ledger_input, in_tables, quarantined = table_accounting(settings, file_id)
    assert (rows_input, rows_loaded, rows_rejected) == (case.rows_input, case.rows_loaded,
                                                        case.rows_input - case.rows_loaded)  # fmt: skip
    assert in_tables == case.rows_loaded
    assert in_tables + quarantined == ledger_input == case.rows_input
    if case.message is not None:
        assert case.message in (message or "")

    # Nothing lost: the file left the inbox and is kept, byte for byte, beside its errors.
    assert not path.exists()
    stored = result.stored_path
    assert stored is not None and stored.is_file()
    assert stored.resolve().is_relative_to(
        (settings.rejected if status == "rejected" else settings.archive).resolve()
    )
    assert sha256(stored) == digest == hashlib.sha256(data).hexdigest()
    errors = Path(f"{stored}.errors.json")
    if case.code is not None:
        assert case.code in {entry["reason_code"] for entry in json.loads(errors.read_text(encoding="utf-8"))}
    else:
        assert not errors.exists()

    if case.never_stored is not None:
        _assert_never_stored(settings, case.never_stored, errors, result)
        assert stored.stat().st_mode & 0o077 == 0  # the refused original: owner only
    if case.check is not None:
        case.check(settings, file_id)


def _assert_never_stored(settings: Settings, secret: str, errors: Path, result) -> None:
    """Personal data appears nowhere the loader writes: no table, no errors file, no message."""
    for table in ("file_ledger", "submissions", "status_reports", "quarantine"):
        rows = query(settings, f"SELECT * FROM raw.{table}")
        assert not any(secret in str(value) for row in rows for value in row), table
    assert secret not in errors.read_text(encoding="utf-8")
    assert secret not in (result.message or "") and secret not in result.file_name
    assert secret not in result.stored_path.name
    assert all(secret not in issue.reason_en + issue.reason_zh for issue in result.issues)


@dataclass
class PathCase:
    id: str
    make: Callable[[Settings, Path], Path]
    confine: bool
    detail: str
    extra: dict = field(default_factory=dict)


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir(exist_ok=True)
    target = folder / "secret.csv"
    target.write_text(TEXT, encoding="utf-8")
    return target


PATH_CASES = [
    PathCase(
        "dotdot_segments_out_of_the_inbox",
        lambda s, t: (_outside(t), Path(f"{s.inbox}/social_assistance/../../../outside/secret.csv"))[1],
        True,
        "'..' in the path",
    ),
    PathCase("absolute_path_outside_the_inbox", lambda s, t: _outside(t), True, "only files in the inbox"),
    PathCase(
        "inbox_folder_linked_to_outside",
        lambda s, t: (
            (s.inbox / "social_assistance").symlink_to(_outside(t).parent, target_is_directory=True),
            s.inbox / "social_assistance" / "secret.csv",
        )[1],
        False,
        "names the inbox but leads outside",
    ),
]


@pytest.mark.parametrize("case", PATH_CASES, ids=[case.id for case in PATH_CASES])
def test_paths_leading_out_of_the_inbox_are_not_read(
    settings: Settings, tmp_path: Path, case: PathCase
) -> None:
    path = case.make(settings, tmp_path)
    target = tmp_path / "outside" / "secret.csv"
    before = target.read_bytes()
    result = load_file(path, settings=settings, confine=case.confine)
    assert (result.status, result.file_id) == ("rejected", None)
    assert [issue.reason_code for issue in result.issues] == ["FILE_PATH_UNSAFE"]
    assert case.detail in result.issues[0].reason_en
    # Not read into the warehouse, not recorded, not moved, not copied.
    assert not settings.warehouse_path.exists() or query(
        settings, "SELECT count(*) FROM raw.file_ledger"
    ) == [(0,)]
    assert target.read_bytes() == before
    assert not any(p.is_file() for p in settings.rejected.rglob("*"))
    assert not any(p.is_file() for p in settings.archive.rglob("*"))


@pytest.mark.parametrize("name", ["..\\..\\..\\evil.csv", "C:\\Windows\\System32\\evil.csv", "..evil.csv"])
def test_a_file_name_that_looks_like_a_path_stays_a_name(
    settings: Settings, tmp_path: Path, name: str
) -> None:
    """On POSIX a backslash is an ordinary character: the file loads and is archived under a
    sanitised name inside the archive, never at the place its name points to."""
    path = settings.inbox / "social_assistance" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEXT, encoding="utf-8")
    result = load_file(path, settings=settings)
    assert result.status == "loaded"
    assert result.stored_path.resolve().parent == (settings.archive / "social_assistance").resolve()
    assert result.stored_path.name.endswith("evil.csv") and "\\" not in result.stored_path.name
    assert ".." not in result.stored_path.name
    assert [p.resolve() for p in tmp_path.rglob("*evil.csv")] == [result.stored_path.resolve()]
    ledger_input, in_tables, quarantined = table_accounting(settings, result.file_id)
    assert in_tables + quarantined == ledger_input == 3


def test_every_new_refusal_is_documented() -> None:
    """Each reason code the loader can give appears in docs/submissions.md or docs/reliability.md."""
    from ingest.errors import REASONS
    from scorecard.core.settings import REPO_ROOT

    docs = (REPO_ROOT / "docs" / "submissions.md").read_text(encoding="utf-8") + (
        REPO_ROOT / "docs" / "reliability.md"
    ).read_text(encoding="utf-8")
    assert [code for code in REASONS if code not in docs] == []
