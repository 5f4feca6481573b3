"""One digest per owner per delivery: counts, grouped by zone and region, highest severity first,
the top items, and the receipts of files (zh and en; markdown, plain text and HTML)."""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.config import Owner, Reference
from alerts.model import CHANGE_ZH, FIRING, REMINDER, REOPENED, RESOLVED, SEVERITY_ORDER, Change

RECEIPT = "receipt"
_CHANGE_ORDER = {FIRING: 0, REOPENED: 0, REMINDER: 1, RESOLVED: 2}
_CHANGE_EN = {FIRING: "new", RESOLVED: "resolved", REOPENED: "reopened", REMINDER: "still firing"}


@dataclass
class Digest:
    """What one owner is told in one delivery on one channel."""

    owner: Owner
    changes: list[Change]
    title_zh: str
    title_en: str
    lines: list[str] = field(default_factory=list)  # markdown, one logical line each
    detailed: list[Change] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def digest_id(self) -> str:
        seqs = ",".join(str(c.seq) for c in self.changes)
        return "digest-" + hashlib.sha256(f"{self.owner.code}|{seqs}".encode()).hexdigest()[:24]

    @property
    def title(self) -> str:
        return f"{self.title_zh} {self.title_en}"

    @property
    def markdown(self) -> str:
        return "\n".join(self.lines)

    @property
    def plain(self) -> str:
        return "\n".join(line.replace("**", "").replace("### ", "").replace("## ", "") for line in self.lines)

    @property
    def html(self) -> str:
        out = [f"<h2>{html.escape(self.title)}</h2>"]
        in_list = False
        for line in self.lines[1:]:
            if line.startswith("- "):
                if not in_list:
                    out.append("<ul>")
                    in_list = True
                out.append(f"<li>{_inline(line[2:])}</li>")
                continue
            if in_list:
                out.append("</ul>")
                in_list = False
            if line.startswith("### "):
                out.append(f"<h3>{_inline(line[4:])}</h3>")
            elif line.strip():
                out.append(f"<p>{_inline(line)}</p>")
        if in_list:
            out.append("</ul>")
        return "<html><body>" + "\n".join(out) + "</body></html>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "digest_id": self.digest_id,
            "owner": self.owner.code,
            "owner_name_zh": self.owner.name_zh,
            "owner_name_en": self.owner.name_en,
            "title_zh": self.title_zh,
            "title_en": self.title_en,
            "summary": self.summary,
            "markdown": self.markdown,
            "changes": [c.to_dict() for c in self.changes],
        }

    def chunks(self, limit_bytes: int) -> list[str]:
        """The markdown split at line boundaries into parts of at most ``limit_bytes`` (UTF-8),
        each part after the first headed "(n/N)"; a line longer than the limit is cut."""
        head = self.lines[0]
        budget = limit_bytes - len(head.encode()) - 40
        parts: list[list[str]] = [[]]
        size = 0
        for line in self.lines[1:]:
            encoded = line.encode()
            if len(encoded) > budget:
                line = encoded[: budget - 4].decode("utf-8", "ignore") + " …"
                encoded = line.encode()
            if size + len(encoded) + 1 > budget and parts[-1]:
                parts.append([])
                size = 0
            parts[-1].append(line)
            size += len(encoded) + 1
        if len(parts) == 1:
            return ["\n".join([head, *parts[0]])]
        return [f"{head} ({i}/{len(parts)})\n" + "\n".join(p) for i, p in enumerate(parts, 1)]


def _inline(text: str) -> str:
    escaped = html.escape(text)
    while "**" in escaped:
        escaped = escaped.replace("**", "<b>", 1).replace("**", "</b>", 1)
    return escaped


def _city(region: str | None) -> str | None:
    if not region or len(region) != 6 or not region.isdigit():
        return region
    return region if region.endswith("0000") else region[:4] + "00"


def sort_key(change: Change, ref: Reference) -> tuple:
    alert = change.alert
    zone = ref.measures.get(alert.measure or "", {}).get("zone_code", "")
    return (
        _CHANGE_ORDER.get(change.change, 3),
        SEVERITY_ORDER.get(alert.severity, 9),
        ref.zones.get(zone, ("", "", 99))[2],
        alert.region or "",
        alert.measure or "",
        alert.year or "",
        change.seq,
    )


def build_digest(
    owner: Owner,
    changes: Sequence[Change],
    ref: Reference,
    *,
    top_items: int,
    go_live_rounds: set[str] | frozenset[str] = frozenset(),
) -> Digest:
    """The digest of ``changes`` (alert state changes and file receipts) for ``owner``.

    Go-live: changes recorded in the first publication's evaluation are detailed for the latest
    year only; earlier years are counted in one line."""
    receipts = [c for c in changes if c.change == RECEIPT]
    alerts = sorted((c for c in changes if c.change != RECEIPT), key=lambda c: sort_key(c, ref))
    title_zh = f"【共同富裕评价】{owner.name_zh}"
    title_en = f"Scorecard · {owner.name_en}"
    lines = [f"## {title_zh} {title_en}"]
    summary: dict[str, Any] = {"changes": len(alerts), "receipts": len(receipts)}
    detailed: list[Change] = []
    if alerts:
        by_change = Counter(c.change for c in alerts)
        summary["by_change"] = dict(by_change)
        lines.append(
            "**"
            + " · ".join(
                f"{CHANGE_ZH[k]} {by_change[k]}"
                for k in (FIRING, REOPENED, RESOLVED, REMINDER)
                if by_change[k]
            )
            + "** ("
            + ", ".join(
                f"{_CHANGE_EN[k]} {by_change[k]}"
                for k in (FIRING, REOPENED, RESOLVED, REMINDER)
                if by_change[k]
            )
            + ")"
        )
        severities = Counter(c.alert.severity for c in alerts if c.change != RESOLVED)
        if severities:
            ordered = sorted(severities, key=lambda s: SEVERITY_ORDER.get(s, 9))
            lines.append("严重程度 Severity: " + " · ".join(f"{s} {severities[s]}" for s in ordered))
        summary["by_severity"] = dict(severities)
        # counts by zone, then by city within the zone
        zones: dict[str, Counter] = {}
        for c in alerts:
            zone = ref.measures.get(c.alert.measure or "", {}).get("zone_code") or "-"
            zones.setdefault(zone, Counter())[_city(c.alert.region) or "-"] += 1
        lines.append("### 按领域与地区 By zone and region")
        for zone in sorted(zones, key=lambda z: ref.zones.get(z, ("", "", 99))[2]):
            zh, en, _ = ref.zones.get(zone, ("其他", "Other", 99))
            cities = zones[zone]
            top = ", ".join(
                f"{ref.regions.get(city, (city, city))[0]} {n}" for city, n in cities.most_common(6)
            )
            more = f" …+{len(cities) - 6}" if len(cities) > 6 else ""
            lines.append(f"- **{zh} {en}**: {sum(cities.values())} ({top}{more})")
        summary["by_zone"] = {z: sum(c.values()) for z, c in zones.items()}
        # go-live: the first publication details only its latest year
        candidates = alerts
        live = [c for c in alerts if c.round_id in go_live_rounds]
        if live:
            years = sorted({c.alert.year[:4] for c in live if c.alert.year})
            if years:
                latest = years[-1]
                earlier = [c for c in live if c.alert.year and c.alert.year[:4] < latest]
                if earlier:
                    span = f"{years[0]}–{years[-2]}" if len(years) > 2 else years[0]
                    lines.append(
                        f"首次发布：{span} 年历史预警 {len(earlier)} 条仅汇总，不逐条列出 "
                        f"(first publication: {len(earlier)} alerts of {span} summarised, not listed)"
                    )
                    summary["go_live_summarised"] = len(earlier)
                    skip = {c.seq for c in earlier}
                    candidates = [c for c in alerts if c.seq not in skip]
        limit = len(candidates) if top_items <= 0 else top_items
        detailed = candidates[:limit]
        lines.append(f"### 重点 Top items ({len(detailed)}/{len(alerts)})")
        for c in detailed:
            a = c.alert
            lines.append(
                f"- [{a.severity}] {CHANGE_ZH[c.change]} {a.message_zh}"
                f" / {_CHANGE_EN[c.change]}: {a.message_en}"
                f" `{c.fingerprint[:8]}`"
            )
        rest = len(candidates) - len(detailed)
        if rest > 0:
            lines.append(f"另有 {rest} 条未列出（见 `scorecard alerts status`） {rest} more not listed.")
    if receipts:
        lines.append(f"### 文件回执 File receipts ({len(receipts)})")
        for c in receipts:
            lines.append(f"- {c.alert.message_zh} / {c.alert.message_en}")
    return Digest(owner, list(changes), title_zh, title_en, lines, detailed, summary)
