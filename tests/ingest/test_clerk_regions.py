"""Issue #20: regions by name and codes as they come.

A region named without a code (杭州市, 西湖区, 西湖, 嵊州, Xihu) resolves to its GB/T 2260 code from the
regions seed plus the alias seed (dbt_project/seeds/region_aliases.csv); an unknown, ambiguous or
abolished name is refused with the candidates; a name and a code that disagree are refused. Codes come
as 12-digit statistical codes, numbers, "330106.0" or with spaces. Files are loaded for real.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ingest_test_helpers import query, rows_csv, write_inbox_file, xlsx_bytes

from ingest import fastpath, loader
from ingest.errors import RowError
from ingest.layout import RawRecord
from ingest.loader import load_file
from ingest.reference import Reference, load_reference
from ingest.validate import ValidationContext, validate_value_record
from scorecard.core.settings import Settings

REFERENCE = load_reference(Settings(home=Path("/nonexistent")))


def _accounted(result: loader.LoadResult) -> None:
    assert result.rows_loaded + result.rows_rejected == result.rows_input


# --- the names themselves -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("杭州市", "330100"),
        ("杭州", "330100"),
        ("西湖区", "330106"),
        ("西湖", "330106"),
        ("嵊州", "330683"),
        ("嵊州市", "330683"),
        ("嵊泗", "330922"),  # the same first character, another county
        ("景宁", "331127"),  # 景宁畲族自治县
        ("浙江省", "330000"),
        ("Xihu", "330106"),
        ("Xihu District", "330106"),
        ("HANGZHOU", "330100"),
        ("Lin'an", "330112"),
        ("Linan", "330112"),
        ("Jiande City", "330182"),
        ("临安市", "330112"),  # renamed whole in 2017 (former_name)
        ("杭州市西湖区", "330106"),
        ("浙江省杭州市西湖区", "330106"),
        ("杭州西湖", "330106"),
        (" 西湖区 ", "330106"),
    ],
)
def test_names_resolve_within_the_province(name: str, code: str) -> None:
    assert REFERENCE.region_codes_named(name) == (code,)


def test_a_city_prefix_narrows_and_never_borrows() -> None:
    """西湖区 lies in Hangzhou: "宁波市西湖区" names nothing (and the refusal suggests 西湖区)."""
    assert REFERENCE.region_codes_named("宁波市西湖区") == ()
    assert "330106" in REFERENCE.region_suggestions("宁波市西湖区")


def test_alias_seed_names_no_two_current_regions_alike() -> None:
    """No short or former name of the seed means two regions today: an ambiguity would be refused,
    and must then be a real one (the only multi-region name is the abolished 江干区)."""
    clashes = {key: codes for key, codes in REFERENCE.region_names.items() if len(codes) > 1}
    assert clashes == {}
    assert REFERENCE.abolished_regions["江干区"].successors == ("330102", "330114")


# --- row rules ----------------------------------------------------------------------------------


def _validate(reference: Reference, **values: object) -> str:
    base: dict[str, object] = {"measure_code": "PP03A", "period": "2023", "value": "90"}
    context = ValidationContext("f.csv", "social_assistance", reference, 2021, 2025)
    return validate_value_record(RawRecord("row 2", {**base, **values}), context).region_code


def _refusal(reference: Reference, **values: object) -> RowError:
    with pytest.raises(RowError) as error:
        _validate(reference, **values)
    return error.value


@pytest.mark.parametrize(
    ("cell", "code"),
    [
        ("330106000000", "330106"),
        (330106000000, "330106"),
        (330106.0, "330106"),
        ("330106.0", "330106"),
        (" 330 106 ", "330106"),
        ("３３０１０６", "330106"),
        ("330100000000", "330100"),
    ],
)
def test_codes_as_they_come(cell: object, code: str) -> None:
    assert _validate(REFERENCE, region_code=cell) == code


def test_a_township_statistical_code_is_refused_naming_its_county() -> None:
    error = _refusal(REFERENCE, region_code="330106001000")
    assert (error.code, error.field) == ("REGION_CODE_LEVEL", "region_code")
    assert "西湖区 330106" in str(error.params) or error.params["county_name"] == "西湖区"


def test_name_and_code_that_disagree_are_refused() -> None:
    error = _refusal(REFERENCE, region_code="330106", region_name="上城区")
    assert (error.code, error.field) == ("REGION_NAME_MISMATCH", "region_name")
    # A code of the wrong level for its name: the city's name beside a county's code.
    error = _refusal(REFERENCE, region_code="330106", region_name="杭州市")
    assert error.code == "REGION_NAME_MISMATCH"
    assert "330100" in error.params["candidates"] and "设区市" in error.params["candidates"]
    # Name and code agree, in any spelling; a label that names no region is the clerk's own.
    assert _validate(REFERENCE, region_code="330106000000", region_name="西湖") == "330106"
    assert _validate(REFERENCE, region_code="330100", region_name="杭州市本级") == "330100"


def test_unknown_name_is_refused_with_the_nearest_names() -> None:
    error = _refusal(REFERENCE, region_name="西胡区")
    assert (error.code, error.field) == ("REGION_NAME_UNKNOWN", "region_name")
    assert "西湖区 330106" in error.params["candidates"]
    assert "Xihu District 330106" in error.params["candidates_en"]


def test_abolished_name_is_refused_with_its_successors() -> None:
    error = _refusal(REFERENCE, region_name="江干区")
    assert (error.code, error.field) == ("REGION_ABOLISHED", "region_name")
    assert "上城区 330102" in error.params["candidates"] and "钱塘区 330114" in error.params["candidates"]


@pytest.fixture(scope="module")
def clashing_reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The seeds plus one alias naming two regions, as a 鼓楼-style clash would."""
    project = tmp_path_factory.mktemp("clash") / "dbt_project"
    shutil.copytree(Settings(home=Path("/nonexistent")).seeds_dir, project / "seeds")
    with (project / "seeds" / "region_aliases.csv").open("a", encoding="utf-8") as handle:
        handle.write("鼓楼,330102,short_name,测试,test\n鼓楼,330302,short_name,测试,test\n")
    return load_reference(Settings(home=Path("/nonexistent"), dbt_project_dir=project))


def test_ambiguous_name_is_refused_with_candidates(clashing_reference: Reference) -> None:
    error = _refusal(clashing_reference, region_name="鼓楼")
    assert (error.code, error.field) == ("REGION_AMBIGUOUS", "region_name")
    assert error.params["candidates"] == "上城区 330102（县（市、区））、鹿城区 330302（县（市、区））"
    # A code settles it.
    assert _validate(clashing_reference, region_name="鼓楼", region_code="330302") == "330302"
    # A city prefix settles it too.
    assert _validate(clashing_reference, region_name="温州市鼓楼") == "330302"


# --- the acceptance files of the issue, reconstructed ---------------------------------------------


def test_long_csv_naming_regions_without_codes_loads(settings: Settings) -> None:
    """Issue #20's first file: a long CSV naming regions without codes (rejected whole before with
    COLUMN_MISSING). Full names, short names, a prefixed name; an ambiguous (abolished) and an
    unknown name are refused by row with their candidates; the rest loads, read column-wise."""
    rows = [
        ["地区", "指标代码", "统计期", "数值", "分子", "分母"],
        ["浙江省", "PP03A", "2024年第三季度", "", "450", "500"],
        ["杭州市", "PP03A", "2024年第三季度", "91.5", "", ""],
        ["西湖区", "PP03A", "2024年第三季度", "", "45", "50"],
        ["嵊州", "PP03A", "2024年第三季度", "88", "", ""],
        ["杭州市萧山区", "PP03A", "2024年第三季度", "87", "", ""],
        ["江干区", "PP03A", "2024年第三季度", "86", "", ""],
        ["西胡区", "PP03A", "2024年第三季度", "85", "", ""],
    ]
    fastpath.last_stats = fastpath.FastPathStats()
    path = write_inbox_file(settings, "social_assistance", "按地区名称.csv", rows_csv(rows))
    result = load_file(path, settings=settings)
    assert fastpath.last_stats.columnar and fastpath.last_stats.plain == 5
    _accounted(result)
    assert (result.rows_input, result.rows_loaded, result.rows_rejected) == (7, 5, 2)
    stored = query(settings, "SELECT region_code, period, value FROM raw.submissions ORDER BY region_code")
    assert stored == [
        ("330000", "2024-Q3", 90.0),
        ("330100", "2024-Q3", 91.5),
        ("330106", "2024-Q3", 90.0),
        ("330109", "2024-Q3", 87.0),
        ("330683", "2024-Q3", 88.0),
    ]
    refused = {issue.row_ref: issue for issue in result.issues}
    assert refused["row 7"].reason_code == "REGION_ABOLISHED"
    assert "上城区 330102" in refused["row 7"].reason_zh and "钱塘区 330114" in refused["row 7"].reason_zh
    assert refused["row 8"].reason_code == "REGION_NAME_UNKNOWN"
    assert "按地区名称.csv" in refused["row 8"].reason_zh and "行政区划名称" in refused["row 8"].reason_zh
    assert "西湖区 330106" in refused["row 8"].reason_zh
    assert "Xihu District 330106" in refused["row 8"].reason_en


def test_english_form_with_pinyin_names_loads(settings: Settings) -> None:
    rows = [
        ["Region", "Measure", "Period", "Value"],
        ["Hangzhou", "PP03A", "2023", "91"],
        ["Xihu District", "PP03A", "2023", "92"],
        ["Shengzhou", "PP03A", "2023", "93"],
        ["Gulou", "PP03A", "2023", "94"],
    ]
    result = load_file(
        write_inbox_file(settings, "social_assistance", "en.csv", rows_csv(rows)), settings=settings
    )
    _accounted(result)
    assert query(settings, "SELECT region_code, value FROM raw.submissions ORDER BY region_code") == [
        ("330100", 91.0),
        ("330106", 92.0),
        ("330683", 93.0),
    ]
    assert [(i.field, i.reason_code) for i in result.issues] == [("region_code", "REGION_NAME_UNKNOWN")]


def test_xlsx_with_numeric_codes_and_a_chinese_quarter_loads(settings: Settings) -> None:
    """Issue #20's third file: an XLSX with numeric codes and "2024年第三季度" (PERIOD_INVALID before)."""
    rows: list[list[object]] = [
        ["2024年第三季度养老服务数据"],
        ["行政区划代码", "行政区划名称", "指标代码", "统计期", "数值"],
        [330102, "上城区", "EC05", "2024年第三季度", 12],
        [330105.0, "拱墅区", "EC05", "2024年第三季度", 9],
        [330106000000, "西湖区", "EC05", "2024年第三季度", 7],
        ["330108.0", "滨江", "EC05", "2024年第三季度", 5],
        [330100, "杭州市", "EC05", "2024年第三季度", 33],
        [330109, "余杭区", "EC05", "2024年第三季度", 4],  # 330109 is 萧山区
        [330110001000, "余杭区", "EC05", "2024年第三季度", 3],  # a township of 余杭区
    ]
    result = load_file(
        write_inbox_file(settings, "elderly_care", "统计.xlsx", xlsx_bytes(rows)), settings=settings
    )
    _accounted(result)
    assert (result.rows_input, result.rows_loaded, result.rows_rejected) == (7, 5, 2)
    assert query(settings, "SELECT region_code, period, value FROM raw.submissions ORDER BY region_code") == [
        ("330100", "2024-Q3", 33.0),
        ("330102", "2024-Q3", 12.0),
        ("330105", "2024-Q3", 9.0),
        ("330106", "2024-Q3", 7.0),
        ("330108", "2024-Q3", 5.0),
    ]
    quarantined = query(settings, "SELECT row_ref, field, reason_code FROM raw.quarantine ORDER BY row_ref")
    assert quarantined == [
        ("Sheet1!A8:E8", "region_name", "REGION_NAME_MISMATCH"),
        ("Sheet1!A9:E9", "region_code", "REGION_CODE_LEVEL"),
    ]


def test_wide_form_with_names_only_loads(settings: Settings) -> None:
    rows: list[list[object]] = [
        ["2023年二季度养老服务统计报表"],
        ["地区", "康养联合体数（个）"],
        ["杭州市", 30],
        ["西湖区", 3],
        ["嵊州市", 2],
    ]
    result = load_file(
        write_inbox_file(settings, "elderly_care", "form.xlsx", xlsx_bytes(rows, "报表")), settings=settings
    )
    _accounted(result)
    assert (result.layout, result.rows_loaded) == ("wide", 3)
    assert query(settings, "SELECT region_code, period, value FROM raw.submissions ORDER BY region_code") == [
        ("330100", "2023-Q2", 30.0),
        ("330106", "2023-Q2", 3.0),
        ("330683", "2023-Q2", 2.0),
    ]


def test_json_with_names_loads(settings: Settings) -> None:
    import json

    records = [
        {"地区": "西湖", "指标代码": "PP03A", "统计期": "2023年度", "数值": 90},
        {"地区": "宁波市西湖区", "指标代码": "PP03A", "统计期": "2023年度", "数值": 90},
    ]
    data = json.dumps(records, ensure_ascii=False).encode()
    result = load_file(write_inbox_file(settings, "social_assistance", "n.json", data), settings=settings)
    _accounted(result)
    assert query(settings, "SELECT region_code FROM raw.submissions") == [("330106",)]
    assert [i.reason_code for i in result.issues] == ["REGION_NAME_UNKNOWN"]


def test_loaded_by_name_reads_the_same_as_by_code(settings: Settings) -> None:
    """The same values named two ways load the same rows (apart from file and row refs)."""
    by_code = [["行政区划代码", "指标代码", "统计期", "数值"], ["330106", "PP03A", "2023", "90"]]
    by_name = [["地区", "指标代码", "统计期", "数值"], ["西湖", "PP03A", "2022", "90"]]
    load_file(write_inbox_file(settings, "social_assistance", "a.csv", rows_csv(by_code)), settings=settings)
    load_file(write_inbox_file(settings, "social_assistance", "b.csv", rows_csv(by_name)), settings=settings)
    rows = query(settings, "SELECT region_code, measure_code, value FROM raw.submissions ORDER BY period")
    assert rows == [("330106", "PP03A", 90.0), ("330106", "PP03A", 90.0)]
