"""File receipts (文件回执): every file gets one, sent to its department (the data team when the
folder names no known department) through the alert channels: what was loaded, what was refused
and why. A receipt also opens the settling window of the alert lifecycle (files are arriving)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alerts.config import reference
from alerts.model import Alert

REFUSED = {"rejected", "failed"}


def _get(load: Any, *names: str) -> Any:
    for name in names:
        value = load.get(name) if isinstance(load, Mapping) else getattr(load, name, None)
        if value not in (None, ""):
            return value
    return None


def clean(text: Any) -> str:
    """Text any channel can encode: a lone surrogate (an undecodable file name) becomes an escape."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")


def reason_of(load: Any) -> tuple[str, str]:
    """The first reason a file (or its rows) was refused, zh and en."""
    zh, en = _get(load, "reason_zh"), _get(load, "reason_en")
    if zh or en:
        return str(zh or en), str(en or zh)
    issues = _get(load, "issues") or []
    if issues:
        first = issues[0]
        return str(getattr(first, "reason_zh", first)), str(getattr(first, "reason_en", first))
    message = _get(load, "message")
    return (str(message), str(message)) if message else ("", "")


def receipt(load: Any) -> Alert:
    """The receipt of one file, from a ``LoadResult`` or the ingest DAG's per-file summary."""
    name = clean(_get(load, "original_name", "file_name") or "?")
    status = str(_get(load, "status") or "?")
    known = reference().departments
    department = _get(load, "department", "department_code")
    if department is None:  # refused before its department was read: the folder it came in
        folders = [Path(str(p)).parent.name for p in (_get(load, "path"), _get(load, "stored_path")) if p]
        department = next((f for f in folders if f in known), None)
    owner = department if department in known else None
    loaded = int(_get(load, "rows_loaded") or 0)
    refused_rows = int(_get(load, "rows_rejected") or 0)
    why_zh, why_en = (clean(x) for x in reason_of(load))
    if status in REFUSED:
        severity = "high"
        zh = f"❌ 文件「{name}」被拒收（{status}）：{why_zh or '原因见 rejected/ 下的 .errors.json'}"
        en = f"File {name} was refused ({status}): {why_en or 'see its .errors.json under rejected/'}"
    elif refused_rows:
        severity = "medium"
        zh = f"⚠️ 文件「{name}」已导入 {loaded} 行，拒收 {refused_rows} 行：{why_zh}"
        en = f"File {name}: {loaded} rows loaded, {refused_rows} rows refused: {why_en}"
    else:
        severity = "info"
        zh = f"✅ 文件「{name}」已导入 {loaded} 行（{status}）"
        en = f"File {name}: {loaded} rows loaded ({status})"
    if department and owner is None:
        zh += f"（文件夹「{department}」不是已知处室，转数据组）"
        en += f" (folder {department!r} is no known department; sent to the data team)"
    identity = "|".join(
        clean(x)
        for x in (_get(load, "file_hash", "sha256"), name, status, _get(load, "file_id"), _get(load, "path"))
    )
    return Alert(
        kind="receipt",
        severity=severity,
        message_zh=clean(zh),
        message_en=clean(en),
        scope="event",
        rule=hashlib.sha256(identity.encode()).hexdigest()[:20],
        owner=owner,
        extra={"file": name, "status": status, "rows_loaded": loaded, "rows_rejected": refused_rows},
    )


def receipts(loads: Iterable[Any]) -> list[Alert]:
    return [receipt(load) for load in loads]


def refused(loads: Iterable[Any]) -> list[str]:
    """Names of the files refused whole (status rejected or failed)."""
    return [str(_get(x, "original_name", "file_name")) for x in loads if str(_get(x, "status")) in REFUSED]
