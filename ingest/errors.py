"""Reason codes for refused files and rows, each with a message in Chinese and English.

A clerk reads these messages in ``.errors.json`` files, in ``raw.quarantine`` and on the console, so
every message names the file, the row (or cell) and the field, shows the offending text and says what
to do. The codes are stable: tests, the faults manifest and dashboards match on them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, overload


@dataclass(frozen=True)
class Reason:
    """One reason code: message templates in zh and en (``str.format`` fields from the issue)."""

    code: str
    zh: str
    en: str


def _reasons(*reasons: Reason) -> dict[str, Reason]:
    return {reason.code: reason for reason in reasons}


# File-level reasons: the whole file is refused (status ``rejected``).
FILE_REASONS = _reasons(
    Reason(
        "FILE_TOO_LARGE",
        "文件过大（{size} 字节，上限 {limit} 字节），请拆分后重新报送",
        "file too large ({size} bytes, limit {limit}); split it and submit again",
    ),
    Reason("FILE_EMPTY", "文件为空，没有任何内容", "the file is empty"),
    Reason("FILE_HEADER_ONLY", "文件只有表头，没有数据行", "the file has a header but no data rows"),
    Reason(
        "FILE_FORMAT_UNKNOWN",
        "不支持的文件类型「{extension}」，请使用 CSV、XLSX 或 JSON",
        "unsupported file type '{extension}': use CSV, XLSX or JSON",
    ),
    Reason("FILE_NOT_FOUND", "文件不存在：「{path}」", "no such file: '{path}'"),
    Reason(
        "FILE_NOT_REGULAR",
        "不是普通文件（可能是链接或目录），已拒收",
        "not a regular file (a link or a folder): refused",
    ),
    Reason(
        "FILE_ENCODING_UNKNOWN",
        "无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV",
        "cannot detect the text encoding: save the CSV as UTF-8 or GB18030",
    ),
    Reason("FILE_UNREADABLE", "无法读取文件：{detail}", "cannot read the file: {detail}"),
    Reason(
        "XLSX_TOO_LARGE_UNPACKED",
        "XLSX 解压后过大（{size} 字节，上限 {limit} 字节），疑似异常文件",
        "the XLSX unpacks to {size} bytes (limit {limit}): refused as unsafe",
    ),
    Reason("JSON_INVALID", "JSON 格式错误：{detail}", "invalid JSON: {detail}"),
    Reason(
        "JSON_SHAPE",
        "JSON 须为记录列表，或包含 department 与 records 的对象",
        "JSON must be a list of records or an object with 'department' and 'records'",
    ),
    Reason(
        "HEADER_UNRECOGNIZED",
        "找不到可识别的表头：需要 行政区划代码/指标代码/统计期/数值（或 分子、分母），"
        "或 事项编码/统计期/状态，或本部门报表登记的列名",
        "no recognisable header row: expected region_code/measure_code/period/value (or numerator "
        "and denominator), or item_code/period/status, or the columns registered for the department's "
        "report form",
    ),
    Reason(
        "DEPARTMENT_MISSING",
        "无法确定报送部门：请放入 inbox/<部门代码>/ 子目录或填写 department 字段",
        "no department: put the file in inbox/<department_code>/ or fill the 'department' field",
    ),
    Reason(
        "DEPARTMENT_UNKNOWN",
        "未知的报送部门「{department}」{did_you_mean_zh}",
        "unknown department '{department}'{did_you_mean}",
    ),
    Reason(
        "DEPARTMENT_CONFLICT",
        "报送部门不一致：目录为「{folder}」，文件内为「{declared}」",
        "department conflict: the folder says '{folder}', the file says '{declared}'",
    ),
    Reason(
        "FILE_ENCODING_MIXED",
        "文件混用了多种文字编码：第 {utf8_line} 行为 UTF-8，第 {other_line} 行为 GB18030/GBK 等其他编码；"
        "请将整个文件另存为 UTF-8 后重新报送",
        "mixed text encodings in one file: line {utf8_line} is UTF-8 but line {other_line} is not "
        "(GB18030/GBK?); save the whole file as UTF-8 and submit again",
    ),
    Reason(
        "FILE_DELIMITER_UNSUPPORTED",
        "分隔符「{delimiter}」不受支持（第 {row} 行按该分隔符才能识别表头）：请用逗号或制表符分隔",
        "unsupported delimiter '{delimiter}' (row {row} is a header only when split on it): "
        "separate columns with commas or tabs",
    ),
    Reason(
        "FILE_TRUNCATED",
        "文件不完整，在第 {row} 行中途截断（{detail}）：请重新导出并完整上传",
        "the file is truncated in row {row} ({detail}): export it again and upload the whole file",
    ),
    Reason(
        "FILE_TOO_WIDE",
        "列数过多：第 {row} 行有 {columns} 列（上限 {limit} 列），请检查分隔符或删除多余列",
        "too many columns: row {row} has {columns} (limit {limit}); check the delimiter or remove columns",
    ),
    Reason(
        "XLSX_EXTERNAL_LINKS",
        "工作簿引用了外部工作簿（{links}），其数值无法核实：请「选择性粘贴-数值」后重新报送",
        "the workbook links to other workbooks ({links}), so its values cannot be verified: "
        "paste the values (Paste Special > Values) and submit again",
    ),
    Reason(
        "JSON_TOO_DEEP",
        "JSON 嵌套层级过深（超过 {limit} 层）：请按规范报送记录列表",
        "JSON nested deeper than {limit} levels: submit a flat list of records",
    ),
    Reason(
        "COLUMN_MISSING",
        "缺少必填列「{column_zh}」({column}){hint}。未识别的列：{unrecognized}",
        "required column '{column}' ({column_zh}) not found{hint_en}. Unrecognised columns: {unrecognized}",
    ),
    Reason(
        "FILE_CONTAINS_PERSONAL_DATA",
        "文件含有个人信息：{kind_zh}（已隐去，共 {count} 处）。汇总报送不得包含身份证号、手机号等个人标识，"
        "请删除后重新报送",
        "the file contains personal data: {kind} (masked; {count} in all). Aggregate submissions must not "
        "contain resident ID or mobile numbers: remove them and submit again",
    ),
    Reason(
        "FILE_PATH_UNSAFE",
        "路径「{path}」不在收件箱或待处理目录内（{detail}），拒绝读取",
        "the path '{path}' is outside the inbox and processing folders ({detail}): refused, not read",
    ),
    Reason(
        "COLUMN_AMBIGUOUS",
        "两列都对应「{column_zh}」({column})：{first} 与 {second}，无法判断以哪列为准，请删除其中一列",
        "two columns both mean '{column}' ({column_zh}): {first} and {second}; which one counts? Remove one",
    ),
    Reason(
        "XLSX_SHEET_HIDDEN",
        "数据表「{sheet}」是隐藏的工作表，而可见的工作表是「{visible}」：无法判断应以哪张表为准，"
        "请删除多余的工作表或取消隐藏",
        "the data sheet '{sheet}' is hidden while '{visible}' is visible: which one counts? Remove the "
        "other sheet or unhide it",
    ),
    Reason(
        "ALL_ROWS_REJECTED",
        "所有数据行均有错误，整个文件未入库",
        "every data row has an error: nothing loaded",
    ),
)

# Row-level reasons: the row goes to raw.quarantine, the rest of the file loads.
ROW_REASONS = _reasons(
    Reason("REGION_MISSING", "缺少行政区划代码（或名称）", "the region code (or name) is missing"),
    Reason(
        "REGION_UNKNOWN",
        "行政区划代码「{value}」不存在（应为6位国标代码，如 330102）",
        "unknown region code '{value}' (expected a 6-digit GB/T 2260 code such as 330102)",
    ),
    Reason(
        "REGION_CODE_LEVEL",
        "统计用区划代码「{value}」是乡镇（街道）或村级代码（位于 {county_name} {county}）："
        "本平台只收省、设区市、县（市、区）三级数据，请填写 6 位代码或末 6 位为 0 的 12 位代码",
        "the statistical code '{value}' is a township or village code (in {county_name_en} {county}): only "
        "province, city and county data are taken; give the 6-digit code or a 12-digit one ending in 000000",
    ),
    Reason(
        "REGION_NAME_UNKNOWN",
        "浙江省内没有名为「{value}」的地区；相近的有：{candidates}。请核对名称或填写行政区划代码",
        "no region named '{value}' in Zhejiang; the closest names: {candidates_en}. Check the name or give "
        "the region code",
    ),
    Reason(
        "REGION_AMBIGUOUS",
        "地区名称「{value}」可指多个地区：{candidates}；请填写行政区划代码",
        "the region name '{value}' may mean several regions: {candidates_en}; give the region code",
    ),
    Reason(
        "REGION_ABOLISHED",
        "「{value}」已撤销（{note}），现属：{candidates}；请按现行区划填写行政区划代码",
        "'{value}' no longer exists ({note_en}); its area is now in: {candidates_en}; give the current "
        "region's code",
    ),
    Reason(
        "REGION_NAME_MISMATCH",
        "地区名称「{value}」指 {candidates}，与行政区划代码 {given_code}（{code_region}）不符："
        "请核对名称与代码",
        "the region name '{value}' means {candidates_en}, but the region code {given_code} is "
        "{code_region_en}: "
        "check the name and the code",
    ),
    Reason(
        "REGION_LEVEL_NOT_ALLOWED",
        "指标 {measure} 不接受{level_zh}级数据（允许：{allowed}）",
        "measure {measure} does not accept {level}-level data (allowed: {allowed})",
    ),
    Reason("MEASURE_MISSING", "缺少指标代码", "the measure code is missing"),
    Reason("MEASURE_UNKNOWN", "指标代码「{value}」不存在", "unknown measure code '{value}'"),
    Reason(
        "MEASURE_WRONG_DEPARTMENT",
        "指标 {measure} 应由「{owner}」报送，不属于「{department}」",
        "measure {measure} is reported by '{owner}', not by '{department}'",
    ),
    Reason(
        "MEASURE_IS_STATUS",
        "指标 {measure} 为进度类指标，请按状态报表（事项编码/状态）报送",
        "measure {measure} is a milestone: submit it as a status report (item_code/status)",
    ),
    Reason("PERIOD_MISSING", "缺少统计期", "the period is missing"),
    Reason(
        "PERIOD_EXCEL_SERIAL",
        "统计期「{value}」是 Excel 日期序列号（即 {date}），含义不明："
        "请将该列设为文本格式，填写 2023、2023-Q1 或 2023-01",
        "period '{value}' is an Excel date serial number ({date}), which is ambiguous: format the column as "
        "text and write 2023, 2023-Q1 or 2023-01",
    ),
    Reason(
        "FORMULA_NOT_COMPUTED",
        "单元格为公式「{formula}」，没有保存的计算结果：请在 Excel 中「选择性粘贴-数值」后重新报送",
        "the cell holds the formula '{formula}' without a saved result: paste the values (Paste Special > "
        "Values) in Excel and submit again",
    ),
    Reason(
        "PERIOD_INVALID",
        "统计期「{value}」格式错误，应为 YYYY、YYYY-Qn 或 YYYY-MM（如 2023、2023-Q2、2023-06）",
        "invalid period '{value}': use YYYY, YYYY-Qn or YYYY-MM (e.g. 2023, 2023-Q2, 2023-06)",
    ),
    Reason(
        "PERIOD_AMBIGUOUS",
        "统计期「{value}」含义不明：{hint_zh}；请写 2023、2023年第二季度 或 2023年6月",
        "ambiguous period '{value}': {hint_en}; write 2023, 2023-Q2 (2023年第二季度) or 2023-06",
    ),
    Reason(
        "PERIOD_OUT_OF_WINDOW",
        "统计期「{value}」不在规划期 {first}-{last} 内",
        "period '{value}' is outside the programme window {first}-{last}",
    ),
    Reason(
        "VALUE_MISSING",
        "缺少数值：请填写 数值，或同时填写 分子 和 分母",
        "no value: fill 'value', or both 'numerator' and 'denominator'",
    ),
    Reason("VALUE_NOT_NUMBER", "「{value}」不是有效数字", "'{value}' is not a number"),
    Reason("PARTS_INCOMPLETE", "分子和分母须同时填写", "numerator and denominator must be given together"),
    Reason(
        "PARTS_NOT_APPLICABLE",
        "指标 {measure} 为{kind_zh}类指标，只填 数值，不填分子分母",
        "measure {measure} is a {kind}: give 'value' only, not numerator/denominator",
    ),
    Reason(
        "DENOMINATOR_NOT_POSITIVE",
        "分母须大于0（当前为 {value}）",
        "the denominator must be greater than 0 (got {value})",
    ),
    Reason(
        "NUMERATOR_EXCEEDS_DENOMINATOR",
        "分子 {numerator} 大于分母 {denominator}，比率不能超过100%",
        "numerator {numerator} exceeds denominator {denominator}: a rate cannot exceed 100%",
    ),
    Reason(
        "VALUE_OUT_OF_RANGE",
        "{what}「{value}」超出指标 {measure} 的合理范围 {low}-{high}（{unit}），请核对数值和单位",
        "{what_en} {value} is outside the plausible range of {measure}, {low}-{high} ({unit}): check the "
        "figure and its unit",
    ),
    Reason("RATE_OUT_OF_RANGE", "比率 {value} 超出 0-100 范围", "rate {value} is outside 0-100"),
    Reason("NEGATIVE_VALUE", "数值 {value} 不能为负数", "value {value} must not be negative"),
    Reason("COUNT_NOT_INTEGER", "数量 {value} 应为整数", "count {value} must be a whole number"),
    Reason(
        "VALUE_INCONSISTENT",
        "数值 {value} 与 分子/分母 计算结果 {computed} 不一致",
        "value {value} disagrees with numerator/denominator, which give {computed}",
    ),
    Reason(
        "UNIT_UNCONVERTIBLE",
        "单位「{unit}」无法换算为指标 {measure} 的单位「{canonical}」",
        "unit '{unit}' cannot be converted to the unit of {measure}, '{canonical}'",
    ),
    Reason(
        "DUPLICATE_KEY",
        "同一文件内重复：{key} 出现 {count} 次（{rows}），请只保留一行",
        "duplicate within the file: {key} appears {count} times ({rows}); keep one row",
    ),
    Reason("ITEM_MISSING", "缺少事项编码", "the item code is missing"),
    Reason("ITEM_UNKNOWN", "事项编码「{value}」不存在", "unknown item code '{value}'"),
    Reason(
        "ITEM_WRONG_DEPARTMENT",
        "事项 {item} 的责任部门为「{owner}」，不属于「{department}」",
        "item {item} is owned by '{owner}', not by '{department}'",
    ),
    Reason("STATUS_MISSING", "缺少状态", "the status is missing"),
    Reason(
        "STATUS_UNKNOWN",
        "状态「{value}」不在 {item} 的可选状态内（可选：{allowed}）",
        "status '{value}' is not allowed for {item} (allowed: {allowed})",
    ),
    Reason(
        "DATE_INVALID", "日期「{value}」格式错误，应为 YYYY-MM-DD", "invalid date '{value}': use YYYY-MM-DD"
    ),
    Reason(
        "DEPARTMENT_MISMATCH",
        "本行报送部门「{value}」与文件的报送部门「{department}」不一致",
        "this row's department '{value}' differs from the file's department '{department}'",
    ),
    Reason("RECORD_NOT_OBJECT", "JSON 记录须为对象（键值对）", "a JSON record must be an object"),
)

# Warnings on a file that loads (status unchanged): the ledger's message and the console say them.
WARNING_REASONS = _reasons(
    Reason(
        "LINES_SKIPPED",
        "跳过 {count} 行非数据行（合计行 {totals} 行：{total_rows}；"
        "表尾 {footer} 行：{footer_rows}），不作为记录入库",
        "{count} lines skipped, not records ({totals} total rows: {total_rows}; {footer} footer lines: "
        "{footer_rows}); they are not stored",
    ),
    Reason(
        "TOTAL_MISMATCH",
        "合计行「{label}」的{measure}{part_zh}为 {total}，明细行之和为 {detail_sum}（{details} 行）："
        "合计行不入库，明细照常入库，请核对",
        "the total row '{label}' gives {total} for {measure} {part}, its {details} detail rows add up "
        "to {detail_sum}: the total is not stored, the details are loaded; please check",
    ),
    Reason(
        "FOOTER_PERSONAL_DATA_DROPPED",
        "表尾（{footer_rows}）含个人信息（如联系电话），已整行丢弃、未留存；不影响本文件入库",
        "the footer ({footer_rows}) held personal data (a phone number...): it was dropped and never "
        "stored; the file still loads",
    ),
)

REASONS: dict[str, Reason] = {**FILE_REASONS, **ROW_REASONS, **WARNING_REASONS}

FIELD_NAMES_ZH: dict[str, str] = {
    "region_code": "行政区划代码",
    "region_name": "行政区划名称",
    "measure_code": "指标代码",
    "period": "统计期",
    "value": "数值",
    "numerator": "分子",
    "denominator": "分母",
    "unit": "单位",
    "note": "备注",
    "item_code": "事项编码",
    "status": "状态",
    "status_date": "日期",
    "evidence": "佐证",
    "department": "报送部门",
}


@overload
def _clean(text: str) -> str: ...
@overload
def _clean(text: str | None) -> str | None: ...


def _clean(text: str | None) -> str | None:
    """Personal identifiers masked, terminal escapes replaced: every reason passes through here."""
    from ingest.pii import clean

    return clean(text)


class _Blank(dict[str, Any]):
    """Format mapping that leaves unknown fields visible instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# Every text a reason quotes is cut to this many characters: a reason is bounded in size whatever
# the input (a cell of 100,000 characters, a key repeated 4,000 times).
MAX_QUOTED_CHARS = 160
# A list of rows in a reason names this many, then the count.
MAX_LISTED_ROWS = 5


def listed_rows(refs: list[str], total: int) -> str:
    """The first few row references (of ``total``) and the count of the rest: bounded whatever the
    count. ``refs`` needs no more than the first :data:`MAX_LISTED_ROWS`."""
    shown = ", ".join(refs[:MAX_LISTED_ROWS])
    if total > MAX_LISTED_ROWS:
        shown += f", … (+{total - MAX_LISTED_ROWS})"
    return shown


def _quoted(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_QUOTED_CHARS:
        return value[: MAX_QUOTED_CHARS - 1] + "…"
    return value


def render(code: str, params: dict[str, Any] | None = None) -> tuple[str, str]:
    """The (zh, en) message body for a reason code."""
    reason = REASONS[code]
    mapping = _Blank({k: "" if v is None else _quoted(v) for k, v in (params or {}).items()})
    return reason.zh.format_map(mapping), reason.en.format_map(mapping)


@dataclass(frozen=True)
class Issue:
    """One problem found in a file: a whole-file problem (``row_ref`` None) or one row's problem.

    ``reason_zh``/``reason_en`` are complete sentences naming the file, the row and the field.
    """

    file_name: str
    row_ref: str | None
    field: str | None
    reason_code: str
    # dataclasses.field: the name ``field`` is this class's attribute here
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def reason_zh(self) -> str:
        body, _ = render(self.reason_code, self.params)
        where = f"文件「{self.file_name}」"
        if self.row_ref:
            where += f" {self.row_ref}"
        if self.field:
            where += f" 字段「{FIELD_NAMES_ZH.get(self.field, self.field)}」"
        return _clean(f"{where}：{body}")

    @property
    def reason_en(self) -> str:
        _, body = render(self.reason_code, self.params)
        where = f"file '{self.file_name}'"
        if self.row_ref:
            where += f", {self.row_ref}"
        if self.field:
            where += f", field '{self.field}'"
        return _clean(f"{where}: {body}")

    def to_json(self) -> dict[str, Any]:
        """The shape written to ``<file>.errors.json``."""
        return {
            "row": _clean(self.row_ref),
            "field": _clean(self.field),
            "reason_code": self.reason_code,
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
        }


class FileRejected(Exception):
    """Raised while reading a file when the whole file must be refused.

    ``grids`` optionally carries what could still be read (e.g. each line of a mixed-encoding file
    in its own encoding), so that its rows are quarantined with the file's reason rather than lost
    from the accounting.
    """

    def __init__(self, code: str, *, grids: list[Any] | None = None, **params: Any) -> None:
        if code not in FILE_REASONS:
            raise ValueError(f"not a file-level reason code: {code}")
        self.code = code
        self.params = params
        self.grids = grids or []
        super().__init__(render(code, params)[1])


class RowError(Exception):
    """Raised while validating one row; carries the field and the reason code."""

    def __init__(self, code: str, field: str | None = None, **params: Any) -> None:
        if code not in ROW_REASONS:
            raise ValueError(f"not a row-level reason code: {code}")
        self.code = code
        self.field = field
        self.params = params
        super().__init__(render(code, params)[1])
