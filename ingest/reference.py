"""The reference seeds (``dbt_project/seeds``) as Python objects, for validation and generation.

Read with the csv module so the loader needs no warehouse: codes stay text, ``true``/``false``
become booleans and ``|``-separated cells become tuples. Loaded once per seeds folder and
reloaded when a seed file changes.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from scorecard.core.settings import Settings, get_settings

REQUIRED_SEEDS = ("measures", "regions", "departments", "status_vocabulary", "work_items", "policy_items")
OPTIONAL_SEEDS = (
    "milestone_levels",
    "milestone_targets",
    "indicator_targets",
    "region_population",
    "measure_value_ranges",
    "region_aliases",
)


class ReferenceError(RuntimeError):
    """A seed file is missing or malformed: the loader cannot validate anything without it."""


def _bool(text: str | None) -> bool:
    return (text or "").strip().lower() in {"true", "1", "yes", "y", "t"}


def _float(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def _int(text: str | None) -> int | None:
    value = _float(text)
    return int(value) if value is not None else None


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split("|") if part.strip())


@dataclass(frozen=True)
class Measure:
    code: str
    name_zh: str
    name_en: str
    unit: str
    kind: str
    direction: str
    rollup_rule: str
    value_scale: float | None
    population_base: str
    condition_threshold: float | None
    condition_level: str
    region_levels: tuple[str, ...]
    is_cumulative: bool
    has_annual_targets: bool
    department_code: str
    submitted_via: str
    indicator_code: str = ""
    unit_zh: str = ""
    # The numerator and denominator in words, as report forms head their columns.
    numerator_zh: str = ""
    denominator_zh: str = ""
    # The plausible range of a value in the canonical unit (seed measure_value_ranges, from the
    # measure's kind and unit): a value outside it is refused (VALUE_OUT_OF_RANGE).
    min_value: float | None = None
    max_value: float | None = None

    @property
    def takes_parts(self) -> bool:
        """Rates, ratios and densities take numerator and denominator (value = n/d x scale)."""
        return self.value_scale is not None and self.kind in {"rate", "ratio", "density"}


@dataclass(frozen=True)
class Region:
    code: str
    name_zh: str
    name_en: str
    level: str
    parent_code: str
    city_code: str
    township_count: int | None
    name_pinyin: str = ""


_NAME_NOISE = re.compile(r"[\s'’‘`·•・.,，、()（）\-]+")


def region_name_key(text: str) -> str:
    """A region name as looked up: NFKC, lower case, without spaces, apostrophes, dots, hyphens
    and brackets ("Lin'an" and "LINAN", "西湖区 " and "西湖区" are the same key)."""
    return _NAME_NOISE.sub("", unicodedata.normalize("NFKC", text).lower())


@dataclass(frozen=True)
class AbolishedRegion:
    """A former region whose area is now part of others (seed region_aliases, kind ``abolished``):
    its name is refused with the regions that took its area, never mapped to one of them."""

    name: str
    successors: tuple[str, ...]
    note_zh: str
    note_en: str


@dataclass(frozen=True)
class Department:
    code: str
    name_zh: str
    name_en: str
    reporting_frequency: str


@dataclass(frozen=True)
class StatusOption:
    """One allowed status of an item kind (or one milestone level of a measure)."""

    code: str
    rank: int
    name_zh: str
    name_en: str
    is_complete: bool


@dataclass(frozen=True)
class Item:
    """A trackable item: a work item, a policy item, or a milestone measure (``EC02``)."""

    code: str
    kind: str  # work / policy / milestone
    owner_department: str
    due_year: int | None
    text_zh: str


@dataclass(frozen=True)
class Reference:
    """Everything the loader validates against and the generator draws from."""

    measures: dict[str, Measure]
    regions: dict[str, Region]
    departments: dict[str, Department]
    status_options: dict[str, tuple[StatusOption, ...]]  # item kind -> options by rank
    milestone_levels: dict[str, tuple[StatusOption, ...]]  # measure code -> levels by rank
    items: dict[str, Item]
    targets: dict[tuple[str, int], float] = field(default_factory=dict)
    milestone_targets: dict[tuple[str, int], str] = field(default_factory=dict)
    population: dict[tuple[str, int], tuple[float | None, float | None]] = field(default_factory=dict)
    # Region names (region_name_key) -> the codes they name: the regions seed's Chinese, English
    # and pinyin names and the alias seed's short and former names. One code unless ambiguous.
    region_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    abolished_regions: dict[str, AbolishedRegion] = field(default_factory=dict)

    def department_code(self, text: str) -> str | None:
        """Resolve a department given by code or by its Chinese or English name."""
        text = text.strip()
        if text in self.departments:
            return text
        lowered = text.lower()
        for department in self.departments.values():
            if lowered in {department.code.lower(), department.name_zh, department.name_en.lower()}:
                return department.code
        return None

    def status_choices(self, item: Item) -> tuple[StatusOption, ...]:
        """The statuses an item may report: milestone levels for a milestone measure, else the
        vocabulary of its kind."""
        if item.kind == "milestone":
            return self.milestone_levels.get(item.code) or self.status_options.get("milestone", ())
        return self.status_options.get(item.kind, ())

    def region_codes_named(self, text: str) -> tuple[str, ...]:
        """The codes a region name may mean, within the province: exact names first, then a name
        prefixed by its province and/or city ("浙江省杭州市西湖区", "杭州西湖"), which also narrows
        a name down to that city. Empty when nothing matches."""
        return self._codes_named(region_name_key(text), None)

    def _codes_named(self, key: str, within: str | None) -> tuple[str, ...]:
        codes = tuple(code for code in self.region_names.get(key, ()) if self._lies_in(code, within))
        if codes or not key:
            return codes
        found: list[str] = []
        for prefix, parents in self.region_names.items():
            if len(prefix) < len(key) and key.startswith(prefix):
                for parent in parents:
                    if self.regions[parent].level in {"province", "city"} and self._lies_in(parent, within):
                        found += [c for c in self._codes_named(key[len(prefix) :], parent) if c not in found]
        return tuple(found)

    def _lies_in(self, code: str, within: str | None) -> bool:
        if within is None:
            return True
        region = self.regions[code]
        return code != within and (within == self.province_code or region.city_code == within)

    def region_suggestions(self, text: str, limit: int = 5) -> tuple[str, ...]:
        """Codes of the regions whose names come closest to an unknown name (for the refusal)."""
        keys = difflib.get_close_matches(
            region_name_key(text), list(self.region_names), n=limit * 2, cutoff=0.6
        )
        codes: list[str] = []
        for key in keys:
            codes += [code for code in self.region_names[key] if code not in codes]
        return tuple(codes[:limit])

    @property
    def province_code(self) -> str:
        for region in self.regions.values():
            if region.level == "province":
                return region.code
        raise ReferenceError("regions seed has no province row")


def _read(seeds_dir: Path, name: str, *, required: bool) -> list[dict[str, str]]:
    path = seeds_dir / f"{name}.csv"
    if not path.exists():
        if required:
            raise ReferenceError(f"reference seed missing: {path}")
        return []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in csv.DictReader(handle)]


def _signature(seeds_dir: Path) -> tuple[tuple[str, float], ...]:
    return tuple(
        (name, (seeds_dir / f"{name}.csv").stat().st_mtime if (seeds_dir / f"{name}.csv").exists() else 0.0)
        for name in REQUIRED_SEEDS + OPTIONAL_SEEDS
    )


def load_reference(settings: Settings | None = None) -> Reference:
    """The reference data of ``settings.seeds_dir`` (cached; reloaded when a seed changes)."""
    seeds_dir = (settings or get_settings()).seeds_dir.resolve()
    return _load_cached(seeds_dir, _signature(seeds_dir))


@lru_cache(maxsize=8)
def _load_cached(seeds_dir: Path, _signature: tuple[tuple[str, float], ...]) -> Reference:
    return _build(seeds_dir)


def _options(rows: list[dict[str, str]], code_column: str) -> tuple[StatusOption, ...]:
    options = [
        StatusOption(
            code=row[code_column],
            rank=_int(row.get("status_rank") or row.get("level_rank")) or 0,
            name_zh=row.get("name_zh", ""),
            name_en=row.get("name_en", ""),
            is_complete=_bool(row.get("is_complete")),
        )
        for row in rows
    ]
    return tuple(sorted(options, key=lambda option: option.rank))


def _build(seeds_dir: Path) -> Reference:
    try:
        measures = {
            row["measure_code"]: Measure(
                code=row["measure_code"],
                name_zh=row.get("name_zh", ""),
                name_en=row.get("name_en", ""),
                unit=row.get("unit", ""),
                kind=row.get("measure_kind", ""),
                direction=row.get("direction", "higher_is_better"),
                rollup_rule=row.get("rollup_rule", ""),
                value_scale=_float(row.get("value_scale")),
                population_base=row.get("population_base", ""),
                condition_threshold=_float(row.get("condition_threshold")),
                condition_level=row.get("condition_level", ""),
                region_levels=_list(row.get("region_levels")) or ("county", "city", "province"),
                is_cumulative=_bool(row.get("is_cumulative")),
                has_annual_targets=_bool(row.get("has_annual_targets")),
                department_code=row.get("department_code", ""),
                submitted_via=row.get("submitted_via") or "values",
                indicator_code=row.get("indicator_code", ""),
                unit_zh=row.get("unit_zh", ""),
                numerator_zh=row.get("numerator_zh", ""),
                denominator_zh=row.get("denominator_zh", ""),
            )
            for row in _read(seeds_dir, "measures", required=True)
        }
        for row in _read(seeds_dir, "measure_value_ranges", required=False):
            measure = measures.get(row["measure_code"])
            if measure is not None:
                measures[measure.code] = dataclasses.replace(
                    measure, min_value=_float(row.get("min_value")), max_value=_float(row.get("max_value"))
                )
        regions = {
            row["region_code"]: Region(
                code=row["region_code"],
                name_zh=row.get("name_zh", ""),
                name_en=row.get("name_en", ""),
                level=row.get("region_level", ""),
                parent_code=row.get("parent_code", ""),
                city_code=row.get("city_code", ""),
                township_count=_int(row.get("township_count")),
                name_pinyin=row.get("name_pinyin", ""),
            )
            for row in _read(seeds_dir, "regions", required=True)
        }
        departments = {
            row["department_code"]: Department(
                code=row["department_code"],
                name_zh=row.get("name_zh", ""),
                name_en=row.get("name_en", ""),
                reporting_frequency=row.get("reporting_frequency") or "annual",
            )
            for row in _read(seeds_dir, "departments", required=True)
        }
        vocabulary_rows = _read(seeds_dir, "status_vocabulary", required=True)
        status_options = {
            kind: _options([row for row in vocabulary_rows if row["item_kind"] == kind], "status_code")
            for kind in sorted({row["item_kind"] for row in vocabulary_rows})
        }
        level_rows = _read(seeds_dir, "milestone_levels", required=False)
        milestone_levels = {
            code: _options([row for row in level_rows if row["measure_code"] == code], "level_code")
            for code in sorted({row["measure_code"] for row in level_rows})
        }
        items: dict[str, Item] = {}
        for kind, seed in (("work", "work_items"), ("policy", "policy_items")):
            for row in _read(seeds_dir, seed, required=True):
                items[row["item_code"]] = Item(
                    code=row["item_code"],
                    kind=kind,
                    owner_department=row.get("owner_department", ""),
                    due_year=_int(row.get("due_year")),
                    text_zh=row.get("text_zh", ""),
                )
        for measure in measures.values():
            if measure.submitted_via == "status":
                items[measure.code] = Item(
                    measure.code, "milestone", measure.department_code, None, measure.name_zh
                )
        targets = {
            (row["measure_code"], int(row["year"])): float(row["target_value"])
            for row in _read(seeds_dir, "indicator_targets", required=False)
            if row.get("target_value")
        }
        milestone_targets = {
            (row["measure_code"], int(row["year"])): row.get("target_level_code", "")
            for row in _read(seeds_dir, "milestone_targets", required=False)
        }
        population = {
            (row["region_code"], int(row["year"])): (
                _float(row.get("resident_population")),
                _float(row.get("elderly_population")),
            )
            for row in _read(seeds_dir, "region_population", required=False)
        }
        region_names, abolished_regions = _region_names(
            regions, _read(seeds_dir, "region_aliases", required=False)
        )
    except (KeyError, ValueError) as exc:
        raise ReferenceError(f"malformed reference seed in {seeds_dir}: {exc!r}") from exc
    return Reference(
        measures=measures,
        regions=regions,
        departments=departments,
        status_options=status_options,
        milestone_levels=milestone_levels,
        items=items,
        targets=targets,
        milestone_targets=milestone_targets,
        population=population,
        region_names=region_names,
        abolished_regions=abolished_regions,
    )


def _region_names(
    regions: dict[str, Region], alias_rows: list[dict[str, str]]
) -> tuple[dict[str, tuple[str, ...]], dict[str, AbolishedRegion]]:
    names: dict[str, list[str]] = {}

    def add(name: str, code: str) -> None:
        key = region_name_key(name)
        if key and code not in names.setdefault(key, []):
            names[key].append(code)

    for region in regions.values():
        for name in (region.name_zh, region.name_en, region.name_en.split(" (")[0], region.name_pinyin):
            add(name, region.code)
    abolished: dict[str, AbolishedRegion] = {}
    for row in alias_rows:
        code = row["region_code"]
        if code not in regions:
            # Only a regions seed of another shape (bench/scale.py) lacks one: dbt's relationships
            # test keeps the project's seeds consistent.
            continue
        if row.get("alias_kind") == "abolished":
            key = region_name_key(row["alias"])
            known = abolished.get(key)
            successors = (*known.successors, code) if known else (code,)
            abolished[key] = AbolishedRegion(
                row["alias"], successors, row.get("note_zh", ""), row.get("note_en", "")
            )
        else:
            add(row["alias"], code)
    return {key: tuple(codes) for key, codes in names.items()}, abolished
