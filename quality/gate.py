"""The quality gate: every Soda contract in ``quality/contracts/``, by stage, on one read-only connection.

``run_gate`` verifies the raw contracts first, then the marts contracts, with Soda Core 4
(``verify_contract_locally``), and collects one :class:`CheckRecord` per check (check, dataset,
outcome, diagnostic). It also lists every value the anomaly mart (``marts.fct_value_anomalies``)
flags, with its reason. The gate passes when no check failed and none could not be evaluated;
warnings do not block publication. Each run is written to ``<home>/check_results/``
(``latest.json`` and one file per run) so that publication, alerts and people can read it.

Soda itself is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scorecard.core.ids import new_run_id
from scorecard.core.settings import Settings, get_settings

QUALITY_DIR = Path(__file__).resolve().parent
CONTRACTS_DIR = QUALITY_DIR / "contracts"
DATA_SOURCE_FILE = QUALITY_DIR / "datasource.yml"
#: The stages, in the order they run (data flows raw -> marts).
STAGES: tuple[str, ...] = ("raw", "marts")
#: Name of the Soda data source; contracts address datasets as ``wh/<schema>/<table>``.
DATA_SOURCE_NAME = "wh"
ANOMALY_TABLE = ("marts", "fct_value_anomalies")
#: Outcomes that stop publication.
BLOCKING_OUTCOMES = frozenset({"fail", "error"})
SAMPLE_ROWS = 5
KEEP_RESULT_FILES = 100

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckRecord:
    """One check's result, in the form printed, stored in the manifest and alerted on.

    ``outcome`` is ``pass``, ``warn``, ``fail``, ``error`` (the check or its contract could not be
    evaluated) or ``skipped`` (excluded by Soda).
    """

    stage: str
    contract: str
    dataset: str
    check: str
    outcome: str
    diagnostic: str
    check_type: str = ""
    column: str | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def blocking(self) -> bool:
        return self.outcome in BLOCKING_OUTCOMES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FlaggedValue:
    """A value the anomaly mart flags (severity ``severe`` or ``moderate``), with its reason."""

    anomaly_id: str
    measure_code: str
    region_code: str
    region_level: str | None
    period: str
    value: float | None
    severity: str
    reason_zh: str | None
    reason_en: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GateResult:
    """The outcome of one gate run. ``ok`` is the only thing publication needs to look at."""

    run_id: str
    checked_at: str
    warehouse: str
    results: list[CheckRecord] = field(default_factory=list)
    anomalies: list[FlaggedValue] = field(default_factory=list)
    results_path: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.results) and not any(r.blocking for r in self.results)

    @property
    def failures(self) -> list[CheckRecord]:
        return [r for r in self.results if r.blocking]

    @property
    def warnings(self) -> list[CheckRecord]:
        return [r for r in self.results if r.outcome == "warn"]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.results:
            counts[record.outcome] = counts.get(record.outcome, 0) + 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "checked_at": self.checked_at,
            "warehouse": self.warehouse,
            "ok": self.ok,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
            "anomalies": [a.to_dict() for a in self.anomalies],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateResult:
        return cls(
            run_id=data["run_id"],
            checked_at=data["checked_at"],
            warehouse=data["warehouse"],
            results=[CheckRecord(**r) for r in data.get("results", [])],
            anomalies=[FlaggedValue(**a) for a in data.get("anomalies", [])],
        )


def contract_files(stages: Sequence[str] = STAGES, only: Iterable[str] = ()) -> list[tuple[str, Path]]:
    """The contract files to verify, as (stage, path), raw before marts, sorted by name.

    ``only`` restricts to contracts whose file stem (``submissions``) or ``stage/stem`` matches.
    """
    wanted = set(only)
    found: list[tuple[str, Path]] = []
    for stage in stages:
        for path in sorted((CONTRACTS_DIR / stage).glob("*.contract.yml")):
            stem = path.name.removesuffix(".contract.yml")
            if wanted and stem not in wanted and f"{stage}/{stem}" not in wanted:
                continue
            found.append((stage, path))
    return found


def contract_variables(settings: Settings) -> dict[str, str]:
    """Values for the ``${var.*}`` references in the contracts (the pipeline clock and window)."""
    return {
        "AS_OF": settings.today().isoformat(),
        "MONITOR_FROM": settings.monitor_from.isoformat(),
        "FIRST_YEAR": str(settings.first_year),
        "LAST_YEAR": str(settings.last_year),
    }


def run_gate(
    settings: Settings | None = None,
    *,
    stages: Sequence[str] = STAGES,
    only: Iterable[str] = (),
    write: bool = True,
) -> GateResult:
    """Verify every contract against the warehouse (read-only) and return the collected results.

    Args:
        settings: runtime settings (default: from the environment).
        stages: which stages to verify (default raw and marts).
        only: restrict to these contracts (file stem or ``stage/stem``); default all.
        write: store the result under ``<home>/check_results/`` (default True).
    """
    import duckdb

    settings = settings or get_settings()
    os.environ.setdefault("SODA_CORE_TELEMETRY_ENABLED", "false")
    checked_at = datetime.now(UTC)
    gate = GateResult(
        run_id=new_run_id(checked_at),
        checked_at=checked_at.isoformat(timespec="seconds"),
        warehouse=str(settings.warehouse_path),
    )
    files = contract_files(stages, only)
    if not files:
        gate.results.append(_error_record("-", "-", "-", "no contract matched"))
    elif not settings.warehouse_path.exists():
        gate.results.append(
            _error_record(
                "-", "-", "-", f"warehouse not found: {settings.warehouse_path} (run ingest and build)"
            )
        )
    else:
        variables = contract_variables(settings)
        try:
            # Under the same memory limit as loading, builds and publication (DuckDB's default is
            # 80 % of RAM): the raw checks group every raw row.
            con = duckdb.connect(
                str(settings.warehouse_path),
                read_only=True,
                config={"memory_limit": settings.duckdb_memory_limit},
            )
        except duckdb.Error as exc:  # e.g. another process holds the write lock
            gate.results.append(_error_record("-", "-", "-", f"cannot open the warehouse read-only: {exc}"))
        else:
            try:
                for stage, path in files:
                    gate.results.extend(_verify_contract(con, stage, path, variables))
                gate.anomalies.extend(flagged_values(con))
            finally:
                con.close()
    if write:
        gate.results_path = str(write_results(gate, settings))
    return gate


def results_dir(settings: Settings) -> Path:
    return settings.home / "check_results"


def write_results(gate: GateResult, settings: Settings) -> Path:
    """Store the gate run as ``check_results/<run_id>.json`` and ``latest.json`` (atomic renames)."""
    directory = results_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(gate.to_dict(), ensure_ascii=False, indent=2, default=str)
    target = directory / f"{gate.run_id}.json"
    for path in (target, directory / "latest.json"):
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(payload, encoding="utf-8")
        os.replace(tmp, path)
    runs = sorted(p for p in directory.glob("*.json") if p.name != "latest.json")
    for old in runs[:-KEEP_RESULT_FILES]:
        old.unlink(missing_ok=True)
    return target


def latest_results(settings: Settings | None = None) -> GateResult | None:
    """The most recent stored gate run, or None."""
    settings = settings or get_settings()
    path = results_dir(settings) / "latest.json"
    if not path.exists():
        return None
    return GateResult.from_dict(json.loads(path.read_text(encoding="utf-8")))


# --- Soda ---------------------------------------------------------------------------------------

_OUTCOMES = {
    "PASSED": "pass",
    "WARN": "warn",
    "FAILED": "fail",
    "NOT_EVALUATED": "error",
    "EXCLUDED": "skipped",
}
_NOISE_METRICS = frozenset({"dataset_rows_tested", "check_rows_tested"})


def _error_record(stage: str, contract: str, dataset: str, message: str) -> CheckRecord:
    return CheckRecord(stage, contract, dataset, "(contract)", "error", message.strip(), "contract")


def _verify_contract(con: Any, stage: str, path: Path, variables: dict[str, str]) -> list[CheckRecord]:
    from soda_core.contracts import verify_contract_locally
    from soda_duckdb import DuckDBDataSource

    contract = path.name.removesuffix(".contract.yml")
    dataset = _declared_dataset(path)
    data_source = DuckDBDataSource.from_existing_cursor(con, name=DATA_SOURCE_NAME)
    try:
        session = verify_contract_locally(
            data_sources=[data_source], contract_file_path=str(path), variables=variables
        )
    except Exception as exc:  # a broken contract must block, not crash the pipeline
        return [_error_record(stage, contract, dataset, f"{type(exc).__name__}: {exc}")]
    records: list[CheckRecord] = []
    queries = _failed_rows_queries(path, variables)
    for result in session.contract_verification_results:
        soda_contract = result.check_collection
        dataset = f"{'.'.join(soda_contract.dataset_prefix[-1:])}.{soda_contract.dataset_name}".lstrip(".")
        for check_result in result.check_results:
            check = check_result.check
            outcome = _OUTCOMES.get(check_result.outcome.name, "error")
            name = check.name or check.identity
            samples: list[dict[str, Any]] = []
            if outcome in {"fail", "warn"} and name in queries:
                samples = _sample_rows(con, queries[name])
            records.append(
                CheckRecord(
                    stage=stage,
                    contract=contract,
                    dataset=dataset,
                    check=name,
                    outcome=outcome,
                    diagnostic=_diagnostic(check_result),
                    check_type=check.type,
                    column=check.column_name,
                    samples=samples,
                )
            )
        errors = result.get_errors_str()
        if errors or (result.has_errors and not result.check_results):
            records.append(_error_record(stage, contract, dataset, errors or "contract verification errored"))
    if not records:
        records.append(_error_record(stage, contract, dataset, session.get_errors_str() or "no checks ran"))
    return records


def _diagnostic(check_result: Any) -> str:
    """A short human diagnostic: the measured value against the threshold, then the other metrics."""
    parts: list[str] = []
    value = check_result.threshold_value
    if value is not None:
        parts.append(f"value {_fmt(value)}")
    metrics = check_result.diagnostic_metric_values or {}
    try:
        items = dict(metrics).items()
    except (TypeError, ValueError):
        items = []
    for key, metric in items:
        if key in _NOISE_METRICS or metric is None:
            continue
        parts.append(f"{key} {_fmt(metric)}")
    threshold = check_result.check.threshold
    if threshold is not None:
        parts.append(_describe_threshold(threshold))
    warn = getattr(check_result.check, "warn_threshold", None)
    if warn is not None:
        parts.append(_describe_threshold(warn))
    return "; ".join(dict.fromkeys(p for p in parts if p))


def _describe_threshold(threshold: Any) -> str:
    ops = (
        ("must_be", "="),
        ("must_not_be", "!="),
        ("must_be_greater_than", ">"),
        ("must_be_greater_than_or_equal", ">="),
        ("must_be_less_than", "<"),
        ("must_be_less_than_or_equal", "<="),
    )
    rules = [
        f"{op} {_fmt(getattr(threshold, attr))}"
        for attr, op in ops
        if getattr(threshold, attr, None) is not None
    ]
    if not rules:
        return ""
    return f"{getattr(threshold, 'level', 'fail')} unless {' and '.join(rules)}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _declared_dataset(path: Path) -> str:
    """``schema.table`` from the contract's ``dataset: wh/<schema>/<table>`` line (for error rows)."""
    match = re.search(r"^dataset:\s*\S+?/(\S+)/(\S+)\s*$", path.read_text(encoding="utf-8"), re.MULTILINE)
    return f"{match.group(1)}.{match.group(2)}" if match else path.name


def _failed_rows_queries(path: Path, variables: dict[str, str]) -> dict[str, str]:
    """Named ``failed_rows`` checks with a ``query``: the gate re-runs them to show sample rows."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return {}
    queries: dict[str, str] = {}
    for item in document.get("checks") or []:
        body = (item or {}).get("failed_rows") if isinstance(item, dict) else None
        if isinstance(body, dict) and body.get("name") and body.get("query"):
            query = re.sub(
                r"\$\{\s*var\.([A-Za-z_][A-Za-z0-9_]*)\s*\}",
                lambda m: variables.get(m.group(1), m.group(0)),
                body["query"],
            )
            queries[body["name"]] = query.strip().rstrip(";")
    return queries


def _sample_rows(con: Any, query: str) -> list[dict[str, Any]]:
    try:
        cursor = con.execute(f"select * from ({query}) as failed_rows limit {SAMPLE_ROWS}")
        columns = [d[0] for d in cursor.description]
        return [{c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()]
    except Exception as exc:  # samples are a convenience; the check itself already ran
        log.debug("could not sample failed rows: %s", exc)
        return []


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# --- anomalies ----------------------------------------------------------------------------------


def flagged_values(con: Any) -> list[FlaggedValue]:
    """Every value the anomaly mart flags, severe first (empty when the mart is not built)."""
    schema, table = ANOMALY_TABLE
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()[0]
    if not exists:
        return []
    rows = con.execute(
        f"""
        select anomaly_id, measure_code, region_code, region_level, period, value, severity,
               reason_zh, reason_en
        from {schema}.{table}
        where severity in ('severe', 'moderate')
        order by severity = 'severe' desc, measure_code, region_code, period
        """
    ).fetchall()
    return [FlaggedValue(*row) for row in rows]
