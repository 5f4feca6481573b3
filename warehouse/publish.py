"""Publication (发布): the marts, after a passing quality gate, as a read-only snapshot and Parquet.

Layout under ``<home>/publish/``::

    releases/<run_id>/           one complete release: scorecards.duckdb (read-only snapshot:
                                 schema ``marts``, every mart, and schema ``meta``: publication,
                                 check_results, source_files), manifest.json,
                                 parquet/<mart>.parquet; report.html and scorecards.xlsx
                                 once rendered (the last few releases are kept)
    current -> releases/<run_id> symlink, flipped atomically: this *is* the publication
    scorecards.duckdb, manifest.json, parquet
                                 stable names for BI tools: symlinks into current/
    report.html, scorecards.xlsx stable names for people: symlinks to the newest release that has
                                 them (``reports.release.render_release``, called by
                                 orchestration after publication, renders them from the
                                 release's own snapshot)

Publication renders nothing and runs no gate: the gate's result is passed in (``gate`` is
required; orchestration runs the gate), and what people read follows the release.

Atomicity: a release is written completely in a hidden temporary directory, renamed to
``releases/<run_id>``, and published by one ``os.replace`` of the ``current`` link. A new reader
sees the old release or the new one, never a partial one or a mix (the snapshot of one release
with the manifest of another); a reader that already has the old snapshot open keeps reading it
(POSIX keeps the inode even when an old release is pruned). A failed gate, or any error or kill
while writing, publishes nothing and leaves the previous release in place.

Readable by every current DuckDB client: the snapshot is written in DuckDB 1.4's storage format
(``STORAGE_VERSION``, :data:`SNAPSHOT_STORAGE_VERSION`), so DuckDB 1.4 and later (BI tools
such as Superset's ``duckdb-engine`` pin ``duckdb<2``) open it as well as 2.x. Every table and
column carries its zh/en label from the BI contract (``warehouse/bi_contract.yml``) as a DuckDB
comment, and every Parquet file the labels in its key-value metadata.

Within one process DuckDB caches open databases by path, so a second ``duckdb.connect(path)``
in a process that still holds the old snapshot returns the old data; :func:`open_snapshot`
attaches the file to a fresh in-memory database instead and always sees the current one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scorecard.core.durable import fsync_dir, replace_symlink, write_atomic
from scorecard.core.locks import exclusive_lock
from scorecard.core.settings import Settings, get_settings
from warehouse.bi_contract import Contract, load_contract
from warehouse.dbt import unfinished_build, unfinished_build_path

if TYPE_CHECKING:
    import duckdb

    from quality.gate import GateResult

SNAPSHOT_NAME = "scorecards.duckdb"
MANIFEST_NAME = "manifest.json"
#: Names in publish/ that BI tools and people use; each is a symlink into ``current``.
STABLE_NAMES = (SNAPSHOT_NAME, MANIFEST_NAME, "parquet")
MARTS_SCHEMA = "marts"
#: The oldest DuckDB storage format the snapshot is written in: DuckDB 1.4.0 and later read it
#: (docs/bi.md states it as the oldest supported client).
SNAPSHOT_STORAGE_VERSION = "v1.4.0"
KEEP_RELEASES = 3
#: One line per publication: its run id, time and the file ids it rests on (kept whole).
PUBLICATIONS_LOG = "publications.jsonl"
#: File-ledger statuses whose rows are in the warehouse (the files the marts are built from).
LOADED_STATUSES = ("loaded", "loaded_with_rejects")


class PublishError(RuntimeError):
    """Publication could not complete; nothing was swapped into place."""


@dataclass
class PublishResult:
    """What ``publish`` did. ``published`` is False when the gate failed or writing failed."""

    published: bool
    reason: str
    run_id: str | None = None
    snapshot: Path | None = None
    parquet_dir: Path | None = None
    manifest_path: Path | None = None
    marts: list[str] = field(default_factory=list)
    gate: GateResult | None = None
    #: releases/<run_id>, the directory of the release published (what rendering reads)
    release: Path | None = None

    @property
    def ok(self) -> bool:
        return self.published


# --- paths and SQL helpers -------------------------------------------------------------------


def snapshot_path(settings: Settings) -> Path:
    return settings.publish / SNAPSHOT_NAME


def manifest_path(settings: Settings) -> Path:
    return settings.publish / MANIFEST_NAME


def current_release(settings: Settings) -> Path | None:
    """The directory of the current release, or None before the first publication."""
    link = settings.publish / "current"
    return link.resolve() if link.exists() else None


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted (names come from the catalog, never from input, but still)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_snapshot(path: Path | None = None, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published snapshot (its tables under ``marts.*``, ``meta.*``).

    Attached to a fresh in-memory database, so it always sees the file currently at the path.
    """
    import duckdb

    path = path or snapshot_path(settings or get_settings())
    if not path.exists():
        raise FileNotFoundError(f"no published snapshot at {path}")
    con = duckdb.connect(":memory:")
    con.execute(f"ATTACH {quote_literal(str(path))} AS scorecards (READ_ONLY)")
    con.execute("USE scorecards")
    return con


# --- publication -------------------------------------------------------------------------------


def publish(settings: Settings | None = None, *, gate: GateResult) -> PublishResult:
    """Publish the marts if (and only if) the quality gate passed.

    Args:
        settings: runtime settings (default: from the environment).
        gate: the gate's result for the current warehouse (required: the caller runs the gate;
            publication never does).
    """
    from quality.gate import new_run_id

    settings = settings or get_settings()
    settings.publish.mkdir(parents=True, exist_ok=True)
    unfinished = unfinished_build(settings)
    if unfinished is not None:
        # An incremental build that ran in place did not pass (warehouse.dbt): the warehouse may
        # mix old and new tables, or hold rows a failed test judged; a full build repairs it.
        return PublishResult(
            False,
            f"the warehouse holds an unfinished {unfinished.get('mode', '?')} build "
            f"(started {unfinished.get('started_at', '?')}, {unfinished_build_path(settings).name}): "
            "a full build must pass before anything is published (scorecard build --mode full)",
        )
    if not gate.ok:
        failed = ", ".join(f"{r.dataset}: {r.check}" for r in gate.failures[:5]) or "no checks ran"
        more = f" (+{len(gate.failures) - 5} more)" if len(gate.failures) > 5 else ""
        return PublishResult(False, f"quality gate failed: {failed}{more}", gate=gate)

    run_id = new_run_id()
    with exclusive_lock(settings.publish / ".publish.lock"):
        try:
            return _publish_locked(settings, gate, run_id)
        except PublishError as exc:
            return PublishResult(False, str(exc), run_id=run_id, gate=gate)


def _publish_locked(settings: Settings, gate: GateResult, run_id: str) -> PublishResult:
    import duckdb

    publish_dir = settings.publish
    releases = publish_dir / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(publish_dir, releases)
    tmp_release = releases / f".{run_id}.tmp"
    final_release = releases / run_id
    tmp_snapshot = tmp_release / SNAPSHOT_NAME
    published = datetime.now(UTC).replace(microsecond=0)
    published_at = published.isoformat()
    contract = load_contract()
    try:
        (tmp_release / "parquet").mkdir(parents=True)
        con = duckdb.connect(":memory:", config={"memory_limit": settings.duckdb_memory_limit})
        try:
            # Written in an older storage format than this DuckDB's default, so that DuckDB 1.4+
            # clients (BI tools) can open it; attached, since the option is one of ATTACH.
            con.execute(
                f"ATTACH {quote_literal(str(tmp_snapshot))} AS snapshot "
                f"(STORAGE_VERSION {quote_literal(SNAPSHOT_STORAGE_VERSION)})"
            )
            con.execute("USE snapshot")
            try:
                con.execute(f"ATTACH {quote_literal(str(settings.warehouse_path))} AS wh (READ_ONLY)")
            except duckdb.Error as exc:
                raise PublishError(f"cannot open the warehouse read-only: {exc}") from exc
            marts = _copy_marts(con, tmp_release / "parquet", contract)
            if not marts:
                raise PublishError("the warehouse has no marts to publish (run the build)")
            source_files = _source_files(con)
            _write_meta(con, run_id, published, settings, gate, source_files)
            _comment(con, contract)
            con.execute("DETACH wh")
            con.execute("CHECKPOINT snapshot")
            con.execute("USE memory")
            con.execute("DETACH snapshot")
        finally:
            con.close()
        os.chmod(tmp_snapshot, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)

        manifest = {
            "run_id": run_id,
            "published_at": published_at,
            "as_of": settings.today().isoformat(),
            "warehouse": str(settings.warehouse_path),
            "snapshot": {
                "path": SNAPSHOT_NAME,
                "sha256": sha256_of(tmp_snapshot),
                "bytes": tmp_snapshot.stat().st_size,
            },
            "marts": [
                {
                    "name": name,
                    "rows": rows,
                    "parquet": f"parquet/{name}.parquet",
                    "sha256": sha256_of(tmp_release / "parquet" / f"{name}.parquet"),
                }
                for name, rows in marts
            ],
            "source_files": source_files,
            "checks": gate.to_dict(),
        }
        text = json.dumps(manifest, ensure_ascii=False, indent=2, default=str)
        write_atomic(tmp_release / MANIFEST_NAME, text)  # (syncs tmp_release too)

        # Into place. The release is complete before anything points at it; then one atomic
        # step, flipping `current`, publishes all of it (snapshot, manifest, Parquet together):
        # a reader sees the old release or the new one, never a mix.
        os.rename(tmp_release, final_release)
        replace_symlink(publish_dir / "current", Path("releases") / run_id)
        for stable_name in STABLE_NAMES:
            link = publish_dir / stable_name
            if not link.is_symlink():  # first publication, or a file left by an older layout
                replace_symlink(link, Path("current") / stable_name)
        fsync_dir(publish_dir)
    except BaseException:
        shutil.rmtree(tmp_release, ignore_errors=True)
        raise
    _record_publication(publish_dir, run_id, published_at, source_files)
    # What people read travels with the release it describes (issue 7): orchestration renders it
    # from this release after the flip (reports.release), so BI readers get the new data without
    # waiting for the workbook; until then publish/report.html and scorecards.xlsx show the
    # previous release, which pruning keeps while a link points at it.
    _prune_releases(releases, keep=final_release)
    return PublishResult(
        True,
        f"published {len(marts)} marts",
        run_id=run_id,
        snapshot=snapshot_path(settings),
        parquet_dir=final_release / "parquet",
        manifest_path=manifest_path(settings),
        marts=[name for name, _ in marts],
        gate=gate,
        release=final_release,
    )


def _record_publication(
    publish_dir: Path, run_id: str, published_at: str, source_files: list[dict[str, Any]]
) -> None:
    """One line per publication in ``publications.jsonl``: which files it rests on. Releases are
    pruned, this history is not, so "the publication that first included a file" (the submission
    API's status answer) stays answerable."""
    line = {"run_id": run_id, "published_at": published_at, "file_ids": [f["file_id"] for f in source_files]}
    fd = os.open(publish_dir / PUBLICATIONS_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def first_publication(publish_dir: Path, file_id: int) -> dict[str, Any] | None:
    """The first publication (run id, time) whose files include ``file_id``, or None."""
    try:
        text = (publish_dir / PUBLICATIONS_LOG).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:  # a line cut short by a crash while appending
            continue
        if file_id in line.get("file_ids", []):
            return {"run_id": line["run_id"], "published_at": line["published_at"]}
    return None


def _remove_leftovers(publish_dir: Path, releases: Path) -> None:
    """Temporary files of a publisher that was killed (they are dot-files no reader takes for a
    release; called under the publication lock, so no live publisher owns them)."""
    for leftover in releases.glob(".*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in publish_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


def _copy_marts(
    con: duckdb.DuckDBPyConnection, parquet_dir: Path, contract: Contract
) -> list[tuple[str, int]]:
    """Copy every table and view of ``wh.marts`` into the snapshot and to Parquet (with the
    contract's labels in the Parquet key-value metadata); (name, rows)."""
    names = [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = 'wh' and table_schema = ? order by table_name",
            [MARTS_SCHEMA],
        ).fetchall()
    ]
    con.execute(f"CREATE SCHEMA {quote_ident(MARTS_SCHEMA)}")
    copied: list[tuple[str, int]] = []
    for name in names:
        source = f"wh.{quote_ident(MARTS_SCHEMA)}.{quote_ident(name)}"
        target = f"{quote_ident(MARTS_SCHEMA)}.{quote_ident(name)}"
        con.execute(f"CREATE TABLE {target} AS SELECT * FROM {source}")
        parquet = parquet_dir / f"{name}.parquet"
        columns = [d[0] for d in con.execute(f"SELECT * FROM {target} LIMIT 0").description]
        metadata = contract.parquet_metadata(f"{MARTS_SCHEMA}.{name}", columns)
        kv = ", ".join(f"{quote_literal(k)}: {quote_literal(v)}" for k, v in metadata.items())
        con.execute(f"COPY {target} TO {quote_literal(str(parquet))} (FORMAT parquet, KV_METADATA {{{kv}}})")
        rows = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]
        copied.append((name, int(rows)))
    return copied


def _source_files(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The loaded files behind the marts, with their sha256, from ``raw.file_ledger``."""
    exists = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = 'wh' and table_schema = 'raw' and table_name = 'file_ledger'"
    ).fetchone()[0]
    if not exists:
        return []
    cursor = con.execute(
        "select file_id, file_name, department_code, sha256, size_bytes, received_at, status, "
        "coalesce(channel, 'file_drop') as channel, authenticated_department "
        "from wh.raw.file_ledger where status in (?, ?) order by file_id",
        list(LOADED_STATUSES),
    )
    columns = [d[0] for d in cursor.description]
    files = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for f in files:
        # The ledger's received_at is the pipeline clock's local wall time (no zone): the manifest
        # and meta.source_files carry it as an instant, with this machine's offset.
        received = f["received_at"]
        if isinstance(received, datetime):
            f["received_at"] = (received if received.tzinfo else received.astimezone()).isoformat()
    return files


def _write_meta(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    published_at: datetime,
    settings: Settings,
    gate: GateResult,
    source_files: list[dict[str, Any]],
) -> None:
    """``meta.publication``, ``meta.check_results`` and ``meta.source_files`` in the snapshot."""
    con.execute("CREATE SCHEMA meta")
    con.execute(
        "CREATE TABLE meta.publication (run_id VARCHAR, published_at TIMESTAMPTZ, as_of DATE, "
        "gate_run_id VARCHAR, checks_passed INTEGER, checks_warned INTEGER)"
    )
    counts = gate.counts()
    con.execute(
        "INSERT INTO meta.publication VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, published_at, settings.today(), gate.run_id, counts.get("pass", 0), counts.get("warn", 0)],
    )
    con.execute(
        "CREATE TABLE meta.check_results (stage VARCHAR, contract VARCHAR, dataset VARCHAR, "
        "check_name VARCHAR, outcome VARCHAR, diagnostic VARCHAR)"
    )
    rows = [(r.stage, r.contract, r.dataset, r.check, r.outcome, r.diagnostic) for r in gate.results]
    if rows:
        con.executemany("INSERT INTO meta.check_results VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE meta.source_files (file_id BIGINT, file_name VARCHAR, department_code VARCHAR, "
        "sha256 VARCHAR, size_bytes BIGINT, received_at TIMESTAMPTZ, status VARCHAR, channel VARCHAR, "
        "authenticated_department VARCHAR)"
    )
    if source_files:
        con.executemany(
            "INSERT INTO meta.source_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                tuple(datetime.fromisoformat(v) if c == "received_at" and v else v for c, v in f.items())
                for f in source_files
            ],
        )


def _comment(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """The contract's zh/en label on every table and column of the snapshot (DuckDB comments)."""
    rows = con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where database_name = 'snapshot' order by schema_name, table_name, column_index"
    ).fetchall()
    statements: list[str] = []
    for schema, table, column in rows:
        name = f"{schema}.{table}"
        target = f"{quote_ident(schema)}.{quote_ident(table)}"
        if (label := contract.column(name, column)) is not None:
            statements.append(
                f"COMMENT ON COLUMN {target}.{quote_ident(column)} IS {quote_literal(label.text)}"
            )
    for schema, table in dict.fromkeys((schema, table) for schema, table, _ in rows):
        if (label := contract.table(f"{schema}.{table}")) is not None:
            statements.append(
                f"COMMENT ON TABLE {quote_ident(schema)}.{quote_ident(table)} IS {quote_literal(label.text)}"
            )
    # One transaction: each statement committed alone took ~1.2 s for the ~350 of them, 0.35 s so.
    con.execute("BEGIN TRANSACTION;\n" + ";\n".join(statements) + ";\nCOMMIT;")


def _prune_releases(releases: Path, keep: Path, count: int = KEEP_RELEASES) -> None:
    """Keep the newest ``count`` releases (run ids sort by time), never the current one nor one
    that a link in publish/ points at (e.g. report.html, until the new release is rendered)."""
    linked = {link.resolve().parent for link in releases.parent.iterdir() if link.is_symlink()}
    done = sorted(p for p in releases.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in done[:-count]:
        if old != keep and old.resolve() not in linked:
            shutil.rmtree(old, ignore_errors=True)
