"""Words and numbers for people 格式: the vocabularies of the marts in Chinese and English, numbers,
times and escaping; shared by the report's sections, its charts and the workbook."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

#: Status vocabularies of the marts, in Chinese and English.
YEAR_STATUS = {
    "met": ("达标", "met"),
    "not_met": ("未达标", "not met"),
    "no_target": ("无年度目标", "no target this year"),
    "no_data": ("无数据", "no data"),
    "incomplete": ("汇总不完整", "incomplete total"),
}
TRAJECTORY_STATUS = {
    "on_track": ("进度正常", "on track"),
    "at_risk": ("有风险", "at risk"),
    "off_track": ("进度滞后", "off track"),
    "insufficient_data": ("数据不足", "insufficient data"),
}
STATUS_BASIS = {"final": ("终值", "final"), "provisional": ("暂定", "provisional")}
SEVERITY = {
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
    "severe": ("严重", "severe"),
    "moderate": ("中度", "moderate"),
}
SEVERITY_ORDER = {"high": 0, "severe": 0, "medium": 1, "moderate": 1, "low": 2}
ALERT_KIND = {
    "target_missed": ("未完成年度目标", "target missed"),
    "late_submission": ("逾期报送", "late submission"),
    "missing_submission": ("未报送", "missing submission"),
    "off_track": ("进度滞后", "off track"),
    "at_risk": ("进度有风险", "at risk"),
    "milestone_missed": ("里程碑未达成", "milestone missed"),
    "work_item_overdue": ("工作任务逾期", "work item overdue"),
    "anomaly": ("异常值", "anomaly"),
}
CHECK_OUTCOME = {
    "pass": ("通过", "pass"),
    "warn": ("警告", "warn"),
    "fail": ("未通过", "fail"),
    "error": ("无法评估", "error"),
    "skipped": ("跳过", "skipped"),
}
LEVEL = {"province": ("省", "province"), "city": ("市", "city"), "county": ("县", "county")}
DIRECTION = {
    "higher_is_better": ("越高越好", "higher is better"),
    "lower_is_better": ("越低越好", "lower is better"),
}
FILE_STATUS = {"loaded": ("已入库", "loaded"), "loaded_with_rejects": ("部分入库", "loaded with rejects")}


BEIJING = "Asia/Shanghai"


def beijing_time(value: Any) -> str | None:
    """A publication time (ISO text or datetime, UTC) as Beijing time with its zone, to the minute:
    ``2026-01-15 17:00 北京时间 (UTC+08:00)``."""
    from zoneinfo import ZoneInfo

    if value in (None, ""):
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.astimezone(ZoneInfo(BEIJING)):%Y-%m-%d %H:%M} 北京时间 (UTC+08:00)"


def esc(value: Any) -> str:
    """HTML-escaped text (None as an empty string), for markup built in Python (the charts); the
    templates escape what they print themselves, the same way (reports/html.py, escape_value)."""
    return "" if value is None else html.escape(str(value), quote=True)


def label(vocabulary: dict[str, tuple[str, str]], code: str | None) -> tuple[str, str]:
    """(zh, en) of a vocabulary code; unknown codes are shown as they are."""
    if code is None:
        return ("—", "—")
    return vocabulary.get(code, (code, code.replace("_", " ")))


def fmt_number(value: float | None, digits: int | None = None) -> str:
    """A value for people: thousands separators, fewer decimals as the value grows."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if digits is None:
        magnitude = abs(value)
        digits = 0 if magnitude >= 1000 else 1 if magnitude >= 10 else 2
    text = f"{value:,.{digits}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]  # no "-0.0"
    return text


def percent(value: float | None) -> str:
    """A percentage to one decimal, or a dash."""
    return "—" if value is None else f"{fmt_number(value, 1)}%"
