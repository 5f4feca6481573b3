"""Where alerts come from: ``fct_alerts`` of the published snapshot and the latest gate run."""

from __future__ import annotations

from dataclasses import dataclass

from alerts.model import Alert
from scorecard.core.settings import Settings

MART_COLUMNS = (
    "alert_id",
    "alert_kind",
    "severity",
    "measure_code",
    "region_code",
    "department_code",
    "period",
    "message_zh",
    "message_en",
    "rule",
)
_OUTCOME_ZH = {"fail": "未通过", "error": "无法执行", "warn": "警告"}


@dataclass
class Observation:
    """What one source raises now, and which run it comes from (None: nothing to evaluate)."""

    run_id: str | None
    alerts: list[Alert]


def publication_alerts(settings: Settings) -> Observation:
    """``fct_alerts`` of the published snapshot (nothing before the first publication).

    Fingerprint: (alert_kind, measure_code, region_code, period, rule) where rule is the mart's
    ``rule`` column when it has one, else its ``alert_id`` (a hash of the finding, stable across
    runs), so two findings of one kind on the same measure, region and year stay apart."""
    from warehouse.publish import open_snapshot, snapshot_path

    path = snapshot_path(settings)
    if not path.exists():
        return Observation(None, [])
    con = open_snapshot(path)
    try:
        present = con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = 'scorecards' and table_schema = 'marts' and table_name = 'fct_alerts'"
        ).fetchall()
        run_id = con.execute("select max(run_id) from meta.publication").fetchone()[0]
        if not present:
            return Observation(run_id, [])
        have = {row[0] for row in present}
        select = ", ".join(c if c in have else f"null as {c}" for c in MART_COLUMNS)
        rows = con.execute(f"select {select} from marts.fct_alerts order by alert_id").fetchall()
    finally:
        con.close()
    alerts = []
    for row in rows:
        v = dict(zip(MART_COLUMNS, row, strict=True))
        period = None if v["period"] is None else str(v["period"])
        alerts.append(
            Alert(
                kind=str(v["alert_kind"] or "alert"),
                severity=str(v["severity"] or "info"),
                message_zh=str(v["message_zh"] or ""),
                message_en=str(v["message_en"] or ""),
                scope="publication",
                measure=v["measure_code"],
                region=v["region_code"],
                year=period,
                rule=str(v["rule"] or v["alert_id"]),
                owner=v["department_code"] or None,
                run_id=run_id,
            )
        )
    return Observation(run_id, alerts)


def quality_alert_list(settings: Settings) -> Observation:
    """The latest gate run: failed, unevaluated and warned checks, and severe anomalies.

    A check's fingerprint is (``quality_check``, -, -, -, "dataset · check"): the same check failing
    on several runs is one alert, which resolves when a gate run passes it."""
    from quality.gate import latest_results

    gate = latest_results(settings)
    if gate is None:
        return Observation(None, [])
    alerts: list[Alert] = []
    for record in gate.results:
        if record.outcome not in {"fail", "error", "warn"}:
            continue
        alerts.append(
            Alert(
                kind="quality_check",
                severity="high" if record.outcome in {"fail", "error"} else "medium",
                message_zh=(
                    f"质量检查{_OUTCOME_ZH[record.outcome]}：{record.dataset} · {record.check}"
                    f"（{record.diagnostic}）"
                ),
                message_en=(
                    f"Quality check {record.outcome}: {record.dataset} · {record.check} ({record.diagnostic})"
                ),
                scope="quality",
                rule=f"{record.dataset} · {record.check}",
                run_id=gate.run_id,
                extra={"outcome": record.outcome, "dataset": record.dataset, "check": record.check},
            )
        )
    for anomaly in (a for a in gate.anomalies if a.severity == "severe"):
        where = f"{anomaly.measure_code} {anomaly.region_code} {anomaly.period}"
        alerts.append(
            Alert(
                kind="anomaly",
                severity="high",
                message_zh=f"异常值 {where}：{anomaly.reason_zh}",
                message_en=f"Anomaly {where}: {anomaly.reason_en}",
                scope="quality",
                measure=anomaly.measure_code,
                region=anomaly.region_code,
                year=anomaly.period,
                rule="value_anomaly",
                run_id=gate.run_id,
            )
        )
    return Observation(gate.run_id, alerts)
