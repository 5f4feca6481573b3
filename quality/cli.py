"""``scorecard check``: run every Soda contract and print a readable table (质量检查).

Exit status 0 when the gate passes (warnings allowed), 1 on any failed or unevaluated check.
"""

from __future__ import annotations

import argparse
import json
import textwrap
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quality.gate import GateResult

#: With --problems (and in ``scorecard run``), how many moderate anomalies to print.
MODERATE_SHOWN = 10

_OUTCOME_LABEL = {
    "pass": "pass 通过",
    "warn": "WARN 警告",
    "fail": "FAIL 失败",
    "error": "ERROR 错误",
    "skipped": "skipped 跳过",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage", choices=["raw", "marts"], action="append", help="only this stage (repeatable; default all)"
    )
    parser.add_argument(
        "--contract",
        action="append",
        default=[],
        help="only this contract, e.g. submissions or marts/fct_alerts",
    )
    parser.add_argument("--problems", action="store_true", help="show only checks that did not pass")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    from quality.gate import STAGES, run_gate

    stages = tuple(args.stage) if getattr(args, "stage", None) else STAGES
    gate = run_gate(stages=stages, only=getattr(args, "contract", []) or [])
    if getattr(args, "json", False):
        print(json.dumps(gate.to_dict(), ensure_ascii=False, indent=2, default=str))
    else:
        print_gate(gate, only_problems=getattr(args, "problems", False))
    return 0 if gate.ok else 1


def display_width(text: str) -> int:
    """Terminal columns taken by ``text`` (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _wrap(text: str, width: int) -> list[str]:
    """Wrap to ``width`` terminal columns; words for Latin text, characters for CJK text."""
    lines: list[str] = []
    for part in text.splitlines() or [""]:
        if display_width(part) == len(part):
            lines.extend(textwrap.wrap(part, width=width, break_long_words=True) or [""])
            continue
        line = ""
        for ch in part:
            if display_width(line + ch) > width:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], max_widths: Sequence[int]) -> str:
    """A plain-text table; long cells wrap within their column's maximum width."""
    widths = [
        min(max([display_width(h)] + [max(display_width(x) for x in _wrap(r[i], m)) for r in rows]), m)
        for i, (h, m) in enumerate(zip(headers, max_widths, strict=True))
    ]
    rule = "-+-".join("-" * w for w in widths)
    out = [" | ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True)), rule]
    for row in rows:
        cells = [_wrap(cell, w) for cell, w in zip(row, widths, strict=True)]
        for i in range(max(len(c) for c in cells)):
            out.append(
                " | ".join(_pad(c[i] if i < len(c) else "", w) for c, w in zip(cells, widths, strict=True))
            )
    return "\n".join(line.rstrip() for line in out)


def _short(value: object, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_gate(gate: GateResult, *, only_problems: bool = False) -> None:
    """Print the check table, the flagged values and a one-line verdict."""
    records = [r for r in gate.results if not only_problems or r.outcome != "pass"]
    rows = []
    for r in records:
        diagnostic = r.diagnostic
        if r.samples:
            examples = [
                ", ".join(
                    f"{k}={_short(v)}" for k, v in sample.items() if k not in {"reason_en", "reason_zh"}
                )
                for sample in r.samples[:3]
            ]
            diagnostic = "\n".join([diagnostic, *(f"e.g. {e}" for e in examples)])
        rows.append([r.check, r.dataset, _OUTCOME_LABEL.get(r.outcome, r.outcome), diagnostic])
    if rows:
        print(
            format_table(
                ["check 检查", "dataset 数据集", "outcome 结果", "diagnostic 诊断"], rows, [48, 34, 12, 60]
            )
        )
    if gate.anomalies:
        shown = gate.anomalies
        if only_problems:  # every severe value; the first moderate ones (all are in the results file)
            severe = [a for a in gate.anomalies if a.severity == "severe"]
            shown = severe + [a for a in gate.anomalies if a.severity != "severe"][:MODERATE_SHOWN]
        print()
        print(f"Flagged values 异常值 ({len(gate.anomalies)}, showing {len(shown)}):")
        anomaly_rows = [
            [a.severity, a.measure_code, a.region_code, a.period, f"{a.reason_en or ''}\n{a.reason_zh or ''}"]
            for a in shown
        ]
        print(
            format_table(
                ["severity 级别", "measure 指标", "region 地区", "period 期", "reason 原因"],
                anomaly_rows,
                [13, 12, 11, 9, 80],
            )
        )
    counts = gate.counts()
    summary = ", ".join(
        f"{counts[k]} {k}" for k in ("pass", "warn", "fail", "error", "skipped") if counts.get(k)
    )
    verdict = "PASSED 通过" if gate.ok else "FAILED 未通过"
    print()
    print(f"Quality gate {verdict}: {summary or 'no checks'}")
    if gate.results_path:
        print(f"Results: {gate.results_path}")
