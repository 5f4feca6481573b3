"""Routing (who owns an alert, on which channels) and silences, from two YAML files.

- ``deploy/alerting/routing.yml`` (``SCORECARD_ALERT_ROUTING``): settings, channels, owners, the
  default route and the data team. ``${VAR}`` / ``${VAR:-default}`` in a value are read from the
  environment, so secrets stay out of the file; a channel whose required setting is empty is off.
- ``deploy/alerting/silences.yml`` (``SCORECARD_ALERT_SILENCES``): matchers on the fingerprint's
  fields (shell-style wildcards), an expiry, who and why.

Reference data (measure -> department and zone, region and department names) comes from the dbt
seeds, the same files the warehouse is built from.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from scorecard.core.settings import REPO_ROOT, Settings

DEFAULT_ROUTING = REPO_ROOT / "deploy" / "alerting" / "routing.yml"
DEFAULT_SILENCES = REPO_ROOT / "deploy" / "alerting" / "silences.yml"
DATA_TEAM = "data_team"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """A routing or silences file that cannot be used; the message names the file and the entry."""


def expand(value: Any, env: Mapping[str, str]) -> Any:
    """``${VAR}`` and ``${VAR:-default}`` in strings (recursively), from ``env``."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, env) for k, v in value.items()}
    return value


@dataclass
class ChannelSpec:
    """One channel of the routing file. ``all_owners``: every owner's digest goes to it (a
    generic sink such as Alertmanager, a central webhook or mailbox)."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    all_owners: bool = False


@dataclass
class Owner:
    code: str
    name_zh: str
    name_en: str
    channels: list[str] = field(default_factory=list)
    email: list[str] = field(default_factory=list)


@dataclass
class Routing:
    """The parsed routing file."""

    channels: dict[str, ChannelSpec] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)
    default_channels: list[str] = field(default_factory=list)
    data_team: str = DATA_TEAM
    reminder_hours: float = 168.0
    top_items: int = 10
    settling_minutes: float = 30.0
    settling_checks: list[str] = field(default_factory=lambda: ["*complete*"])
    go_live_latest_year_only: bool = True
    source: str = "<defaults>"

    def owner(self, code: str | None) -> Owner:
        """The owner entry for ``code`` (a department or the data team); unknown codes route to
        the default channels under their own name."""
        code = code or self.data_team
        if code in self.owners:
            return self.owners[code]
        names = reference().departments.get(code)
        zh, en = names if names else (code, code)
        return Owner(code, zh, en, list(self.default_channels))

    def channels_for(self, owner_code: str) -> list[str]:
        """The channels an owner's digest goes to: its own (or the default route) plus every
        channel marked ``all_owners``."""
        names = list(self.owner(owner_code).channels)
        names += [n for n, spec in self.channels.items() if spec.all_owners and n not in names]
        return names


def _require(mapping: Any, what: str, source: str) -> dict[str, Any]:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{source}: {what} must be a mapping 必须是映射")
    return mapping


def load_routing(path: Path | None = None, env: Mapping[str, str] | None = None) -> Routing:
    """Parse the routing file (``SCORECARD_ALERT_ROUTING`` or the repository's default)."""
    env = os.environ if env is None else env
    path = Path(path or env.get("SCORECARD_ALERT_ROUTING") or DEFAULT_ROUTING)
    if not path.exists():
        raise ConfigError(f"{path}: routing file not found 找不到预警路由文件")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML 不是有效的 YAML: {exc}") from exc
    return routing_from_dict(data, env, source=str(path))


def routing_from_dict(
    data: dict[str, Any], env: Mapping[str, str] | None = None, *, source: str = "<dict>"
) -> Routing:
    env = os.environ if env is None else env
    data = expand(_require(data, "the file", source), env)
    settings = _require(data.get("settings"), "settings", source)
    routing = Routing(source=source, data_team=str(data.get("data_team") or DATA_TEAM))
    for key in ("reminder_hours", "settling_minutes"):
        if settings.get(key) not in (None, ""):
            setattr(routing, key, float(settings[key]))
    if settings.get("top_items") not in (None, ""):
        routing.top_items = int(settings["top_items"])
    if settings.get("settling_checks") is not None:
        routing.settling_checks = [str(x) for x in settings["settling_checks"]]
    if settings.get("go_live_latest_year_only") is not None:
        routing.go_live_latest_year_only = bool(settings["go_live_latest_year_only"])
    for name, spec in _require(data.get("channels"), "channels", source).items():
        spec = _require(spec, f"channel {name}", source)
        kind = spec.get("type")
        if kind not in CHANNEL_TYPES:
            raise ConfigError(
                f"{source}: channel {name!r} has type {kind!r}; expected one of {sorted(CHANNEL_TYPES)} "
                f"渠道类型无效"
            )
        options = {k: v for k, v in spec.items() if k not in {"type", "all_owners"}}
        routing.channels[str(name)] = ChannelSpec(str(name), kind, options, bool(spec.get("all_owners")))
    known = set(routing.channels)
    for code, spec in _require(data.get("owners"), "owners", source).items():
        spec = _require(spec, f"owner {code}", source)
        names = reference().departments.get(str(code), (str(code), str(code)))
        owner = Owner(
            str(code),
            str(spec.get("name_zh") or names[0]),
            str(spec.get("name_en") or names[1]),
            [str(c) for c in spec.get("channels") or []],
            [str(x) for x in (spec.get("email") or []) if str(x).strip()],
        )
        unknown = [c for c in owner.channels if c not in known]
        if unknown:
            raise ConfigError(f"{source}: owner {code!r} names unknown channels {unknown} 未定义的渠道")
        routing.owners[owner.code] = owner
    default = _require(data.get("default"), "default", source)
    routing.default_channels = [str(c) for c in default.get("channels") or []]
    unknown = [c for c in routing.default_channels if c not in known]
    if unknown:
        raise ConfigError(f"{source}: the default route names unknown channels {unknown} 未定义的渠道")
    if routing.data_team not in routing.owners:
        routing.owners[routing.data_team] = Owner(
            routing.data_team, "数据组", "Data team", list(routing.default_channels)
        )
    return routing


CHANNEL_TYPES = {"alertmanager", "webhook", "email", "dingtalk", "wecom", "feishu"}


# --- silences -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Silence:
    """Matchers on the fingerprint's fields (and severity / owner), each a shell-style pattern."""

    matchers: tuple[tuple[str, str], ...]
    expires: datetime
    created_by: str
    comment: str
    index: int = 0

    @property
    def id(self) -> str:
        return f"silence-{self.index + 1}"

    def active(self, now: datetime) -> bool:
        return now < self.expires

    def matches(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.active(now) and all(
            fnmatch.fnmatchcase(labels.get(key, "") or "", pattern) for key, pattern in self.matchers
        )

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.matchers)


SILENCE_FIELDS = ("kind", "measure", "region", "year", "rule", "severity", "owner")


def load_silences(path: Path | None = None, env: Mapping[str, str] | None = None) -> list[Silence]:
    """Parse the silences file; a missing file is no silences. Errors name the file and entry."""
    env = os.environ if env is None else env
    path = Path(path or env.get("SCORECARD_ALERT_SILENCES") or DEFAULT_SILENCES)
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML 不是有效的 YAML: {exc}") from exc
    entries = data.get("silences") if isinstance(data, dict) else None
    silences = []
    for index, entry in enumerate(entries or []):
        where = f"{path}: silence {index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a mapping 必须是映射")
        matchers = entry.get("matchers")
        if not isinstance(matchers, dict) or not matchers:
            raise ConfigError(f"{where}: field 'matchers' must name at least one field 缺少匹配条件")
        bad = [k for k in matchers if k not in SILENCE_FIELDS]
        if bad:
            raise ConfigError(
                f"{where}: field 'matchers' has unknown keys {bad}; allowed {list(SILENCE_FIELDS)}"
            )
        for key in ("expires", "created_by", "comment"):
            if not entry.get(key):
                raise ConfigError(f"{where}: field {key!r} is required 缺少必填字段")
        expires = entry["expires"]
        try:
            if not isinstance(expires, datetime):
                expires = datetime.fromisoformat(str(expires))
        except ValueError as exc:
            raise ConfigError(
                f"{where}: field 'expires' is not an ISO date-time 不是有效时间: {expires!r}"
            ) from exc
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        silences.append(
            Silence(
                tuple(sorted((str(k), str(v)) for k, v in matchers.items())),
                expires,
                str(entry["created_by"]),
                str(entry["comment"]),
                index,
            )
        )
    return silences


def silenced_by(silences: list[Silence], labels: Mapping[str, str], now: datetime) -> Silence | None:
    return next((s for s in silences if s.matches(labels, now)), None)


# --- reference data (dbt seeds) ------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    measures: dict[str, dict[str, str]]  # measure_code -> zone_code, department_code, name_zh, name_en
    zones: dict[str, tuple[str, str, int]]  # zone_code -> name_zh, name_en, order
    regions: dict[str, tuple[str, str]]  # region_code -> name_zh, name_en
    departments: dict[str, tuple[str, str]]  # department_code -> name_zh, name_en


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@lru_cache(maxsize=4)
def _reference(seeds: Path) -> Reference:
    measures = {r["measure_code"]: r for r in _rows(seeds / "measures.csv")}
    zones = {
        r["zone_code"]: (r["name_zh"], r["name_en"], int(r["zone_no"])) for r in _rows(seeds / "zones.csv")
    }
    regions = {r["region_code"]: (r["name_zh"], r["name_en"]) for r in _rows(seeds / "regions.csv")}
    departments = {
        r["department_code"]: (r["name_zh"], r["name_en"]) for r in _rows(seeds / "departments.csv")
    }
    return Reference(measures, zones, regions, departments)


def reference(settings: Settings | None = None) -> Reference:
    seeds = settings.seeds_dir if settings is not None else REPO_ROOT / "dbt_project" / "seeds"
    return _reference(seeds)
