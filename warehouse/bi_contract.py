"""The BI contract (BI 数据契约): the zh/en label of every published table and column.

The labels live in ``bi_contract.yml`` beside this module (hand-written, one place). Publication
writes them into the snapshot as DuckDB comments and into the Parquet files' key-value metadata,
so a BI tool shows the labels the report uses; ``docs/bi.md`` lists the contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CONTRACT_PATH = Path(__file__).with_name("bi_contract.yml")
#: Parquet key-value metadata keys: the table's label and a JSON object column -> label.
PARQUET_TABLE_KEY = "scorecard.comment"
PARQUET_COLUMNS_KEY = "scorecard.column_comments"


@dataclass(frozen=True)
class Label:
    zh: str
    en: str

    @property
    def text(self) -> str:
        """The comment a BI tool shows: "中文 English"."""
        return f"{self.zh} {self.en}"


@dataclass(frozen=True)
class TableContract:
    label: Label
    columns: dict[str, Label] = field(default_factory=dict)


@dataclass(frozen=True)
class Contract:
    shared: dict[str, Label]
    tables: dict[str, TableContract]

    def table(self, name: str) -> Label | None:
        """The label of ``schema.table`` (None when the contract does not know the table)."""
        table = self.tables.get(name)
        return table.label if table else None

    def column(self, table: str, column: str) -> Label | None:
        """The label of ``column`` in ``schema.table``: the table's own, else the shared one."""
        own = self.tables.get(table)
        if own and column in own.columns:
            return own.columns[column]
        return self.shared.get(column)

    def any_column(self, column: str) -> Label | None:
        """The label of ``column`` wherever it is published: shared, else the first table's own."""
        if column in self.shared:
            return self.shared[column]
        return next((t.columns[column] for t in self.tables.values() if column in t.columns), None)

    def problems(self, published: dict[str, list[str]]) -> list[str]:
        """What does not match ``published`` (``schema.table`` -> its columns): a published table or
        column without a label, a table or table-specific label for something not published, and
        a shared label no published column uses."""
        found: list[str] = []
        used: set[str] = set()
        for table, columns in published.items():
            if table not in self.tables:
                found.append(f"{table}: published, but has no label in {CONTRACT_PATH.name}")
            for column in columns:
                if self.column(table, column) is None:
                    found.append(f"{table}.{column}: published, but has no label in {CONTRACT_PATH.name}")
                used.add(column)
        for table, contract in self.tables.items():
            if table not in published:
                found.append(f"{table}: labelled in {CONTRACT_PATH.name}, but not published")
                continue
            found.extend(
                f"{table}.{c}: labelled in {CONTRACT_PATH.name}, but not published"
                for c in contract.columns
                if c not in published[table]
            )
        found.extend(
            f"columns.{c}: a shared label in {CONTRACT_PATH.name} that no published column uses"
            for c in self.shared
            if c not in used
        )
        return found

    def parquet_metadata(self, table: str, columns: list[str]) -> dict[str, str]:
        """Key-value metadata for the Parquet file of ``schema.table``."""
        label = self.table(table)
        labels = {c: lab.text for c in columns if (lab := self.column(table, c)) is not None}
        meta = {PARQUET_COLUMNS_KEY: json.dumps(labels, ensure_ascii=False)}
        if label is not None:
            meta[PARQUET_TABLE_KEY] = label.text
        return meta


def _label(raw: object, where: str) -> Label:
    if not isinstance(raw, dict) or not raw.get("zh") or not raw.get("en"):
        raise ValueError(f"{CONTRACT_PATH.name}: {where} needs both a zh and an en label")
    return Label(str(raw["zh"]), str(raw["en"]))


@cache
def load_contract(path: Path = CONTRACT_PATH) -> Contract:
    """The contract in ``path`` (read once per process)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    shared = {name: _label(v, f"columns.{name}") for name, v in (raw.get("columns") or {}).items()}
    tables = {
        name: TableContract(
            _label(spec, f"tables.{name}"),
            {c: _label(v, f"tables.{name}.columns.{c}") for c, v in (spec.get("columns") or {}).items()},
        )
        for name, spec in (raw.get("tables") or {}).items()
    }
    return Contract(shared, tables)
