"""The published snapshot as BI clients see it: readable by DuckDB 1.4, timestamps typed, every
table and column labelled (zh/en) from the BI contract, and docs/bi.md listing that contract."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from scorecard.core.settings import REPO_ROOT
from tests.bi.conftest import DUCKDB_1_EXTRAS, OLDEST_DUCKDB, Published, make_venv
from warehouse.bi_contract import PARQUET_COLUMNS_KEY, PARQUET_TABLE_KEY, load_contract
from warehouse.publish import open_snapshot, snapshot_path

pytestmark = pytest.mark.slow
DOC = REPO_ROOT / "docs" / "bi.md"


def published_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "select schema_name, table_name, column_name from duckdb_columns() "
        "where database_name = current_database() order by schema_name, table_name, column_index"
    ).fetchall():
        columns.setdefault(f"{schema}.{table}", []).append(column)
    return columns


def test_snapshot_is_written_in_the_storage_format_of_duckdb_1_4(published: Published) -> None:
    con = open_snapshot(settings=published.settings)
    try:
        tags = con.execute(
            "select tags from duckdb_databases() where database_name = 'scorecards'"
        ).fetchone()
    finally:
        con.close()
    assert tags[0].get("storage_version") == "v1.4.0+", tags


def test_publication_and_receipt_times_are_timestamps_with_time_zone(published: Published) -> None:
    con = open_snapshot(settings=published.settings)
    try:
        types = dict(
            con.execute(
                "select table_name || '.' || column_name, data_type from duckdb_columns() "
                "where schema_name = 'meta' and column_name in ('published_at', 'received_at')"
            ).fetchall()
        )
        received = con.execute("select min(received_at), count(*) from meta.source_files").fetchone()
    finally:
        con.close()
    assert types == {
        "publication.published_at": "TIMESTAMP WITH TIME ZONE",
        "source_files.received_at": "TIMESTAMP WITH TIME ZONE",
    }
    assert received[1] > 0 and received[0].tzinfo is not None
    # The pipeline clock (SCORECARD_AS_OF) is the day of receipt, here.
    assert received[0].astimezone().date().isoformat() == "2026-01-15"


def test_every_published_table_and_column_carries_its_contract_label(published: Published) -> None:
    contract = load_contract()
    con = open_snapshot(settings=published.settings)
    try:
        columns = published_columns(con)
        table_comments = dict(
            con.execute(
                "select schema_name || '.' || table_name, comment from duckdb_tables() "
                "where database_name = 'scorecards'"
            ).fetchall()
        )
        column_comments = {
            (t, c): comment
            for t, c, comment in con.execute(
                "select schema_name || '.' || table_name, column_name, comment from duckdb_columns() "
                "where database_name = 'scorecards'"
            ).fetchall()
        }
    finally:
        con.close()
    assert len(columns) >= 20 and "marts.fct_indicator_progress" in columns
    assert contract.problems(columns) == []
    for table, names in columns.items():
        assert table_comments[table] == contract.table(table).text
        for name in names:
            label = contract.column(table, name)
            assert column_comments[(table, name)] == label.text
            assert re.search(r"[\u4e00-\u9fff]", label.zh) and re.search(r"[A-Za-z]", label.en), (table, name)
    # The same labels in every mart's Parquet file (key-value metadata of the file).
    parquet_dir = published.settings.publish / "parquet"
    marts = [t.split(".", 1)[1] for t in columns if t.startswith("marts.")]
    assert sorted(p.stem for p in parquet_dir.glob("*.parquet")) == sorted(marts)
    for mart in marts:
        meta = pq.read_schema(parquet_dir / f"{mart}.parquet").metadata
        assert meta[PARQUET_TABLE_KEY.encode()].decode() == contract.table(f"marts.{mart}").text
        labels = json.loads(meta[PARQUET_COLUMNS_KEY.encode()])
        assert labels == {c: contract.column(f"marts.{mart}", c).text for c in columns[f"marts.{mart}"]}


def documented_columns(text: str) -> dict[str, list[str]]:
    """The contract table of docs/bi.md: | `schema.table` | grain | references | columns |."""
    section = text.split("## 3.", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([a-z_]+\.[a-z_0-9]+)`\s*\|[^|]*\|[^|]*\|([^|]+)\|\s*$", line)
        if match:
            documented[match.group(1)] = [c.strip() for c in match.group(2).split(",")]
    return documented


def test_docs_list_exactly_the_published_tables_and_columns(published: Published) -> None:
    documented = documented_columns(DOC.read_text(encoding="utf-8"))
    con = open_snapshot(settings=published.settings)
    try:
        columns = published_columns(con)
    finally:
        con.close()
    undocumented = {
        t: [c for c in cols if c not in documented.get(t, [])]
        for t, cols in columns.items()
        if [c for c in cols if c not in documented.get(t, [])]
    }
    not_published = {
        t: [c for c in cols if c not in columns.get(t, [])]
        for t, cols in documented.items()
        if [c for c in cols if c not in columns.get(t, [])]
    }
    assert undocumented == {}, "published but not in docs/bi.md §3"
    assert not_published == {}, "in docs/bi.md §3 but not published"
    for table, cols in documented.items():
        assert cols == columns[table], f"{table}: docs/bi.md lists the columns in another order"


READ_EVERY_MART = textwrap.dedent(
    """
    import json, sys
    import duckdb

    snapshot, parquet_dir = sys.argv[1], sys.argv[2]
    con = duckdb.connect(snapshot, read_only=True)
    out = {"version": duckdb.__version__, "rows": {}, "parquet_rows": {}, "comments": {}}
    for schema, table in con.execute(
        "select schema_name, table_name from duckdb_tables() order by 1, 2"
    ).fetchall():
        rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
        out["rows"][f"{schema}.{table}"] = len(rows)
    for table, comment in con.execute(
        "select schema_name || '.' || table_name, comment from duckdb_tables()"
    ).fetchall():
        out["comments"][table] = comment
    out["published_at"] = str(con.execute("select published_at from meta.publication").fetchone()[0])
    for name in out["rows"]:
        if name.startswith("marts."):
            mart = name.split(".", 1)[1]
            out["parquet_rows"][mart] = con.execute(
                f"select count(*) from read_parquet('{parquet_dir}/{mart}.parquet')"
            ).fetchone()[0]
    print(json.dumps(out, ensure_ascii=False))
    """
)


@pytest.mark.bi
def test_the_oldest_supported_duckdb_reads_every_mart(published: Published, tmp_path_factory) -> None:
    """DuckDB 1.4.0, in an environment of its own (not the project's), opens the published snapshot
    read-only and reads every mart in full, its labels and the Parquet files."""
    python = make_venv(tmp_path_factory.getbasetemp() / "venv-duckdb-1.4", OLDEST_DUCKDB, *DUCKDB_1_EXTRAS)
    script = tmp_path_factory.mktemp("duckdb14") / "read.py"
    script.write_text(READ_EVERY_MART, encoding="utf-8")
    snapshot = snapshot_path(published.settings)
    done = subprocess.run(
        [str(python), str(script), str(snapshot), str(published.settings.publish / "parquet")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["version"].startswith("1.4.")
    manifest = json.loads((published.settings.publish / "manifest.json").read_text(encoding="utf-8"))
    expected = {f"marts.{m['name']}": m["rows"] for m in manifest["marts"]}
    assert {t: n for t, n in seen["rows"].items() if t.startswith("marts.")} == expected
    assert seen["parquet_rows"] == {m["name"]: m["rows"] for m in manifest["marts"]}
    assert seen["rows"]["meta.source_files"] == len(manifest["source_files"]) > 0
    assert seen["comments"]["marts.fct_index_charity"] == "人人慈善指数 Charity for All Index"
    assert seen["published_at"][:19].replace(" ", "T") == manifest["published_at"][:19]


def test_docs_state_the_oldest_supported_duckdb() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "DuckDB 1.4" in text and OLDEST_DUCKDB.split("==")[1] in text
    assert 'pip install "duckdb>=1.4" pytz' in text
    assert Path(REPO_ROOT / "warehouse" / "bi_contract.yml").name in text


def doc_block(text: str, language: str, containing: str) -> str:
    """The fenced ``language`` block of docs/bi.md that contains ``containing``."""
    for block in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S):
        if containing in block:
            return block
    raise AssertionError(f"docs/bi.md has no {language} block with {containing!r}")


@pytest.mark.bi
def test_the_documented_duckdb_commands_run_as_written(published: Published, tmp_path_factory) -> None:
    """docs/bi.md §2 as a reader runs it: the Python snippet with DuckDB 1.4.0, the CLI installed
    as documented (duckdb-cli from PyPI into an environment of its own), the Parquet query."""
    text = DOC.read_text(encoding="utf-8")
    publish_dir = str(published.settings.publish)

    def here(code: str) -> str:
        return code.replace("var/publish", publish_dir)

    python = make_venv(tmp_path_factory.getbasetemp() / "venv-duckdb-1.4", OLDEST_DUCKDB, *DUCKDB_1_EXTRAS)
    snippet = here(doc_block(text, "python", "duckdb.connect("))
    done = subprocess.run([str(python), "-c", snippet], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "region_name_zh" in done.stdout and "杭州市" in done.stdout

    install, query = doc_block(text, "bash", "duckdb-cli").strip().splitlines()
    package = re.search(r"pip install (duckdb-cli==[0-9.]+)", install).group(1)
    cli_env = tmp_path_factory.getbasetemp() / "duckdb-cli"
    make_venv(cli_env, package)
    command = here(query).replace("~/duckdb-cli", str(cli_env))
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("精准保障", "幸福颐养", "人人慈善", "和谐自治", "暖心服务"):
        assert name in done.stdout
    sql = here(doc_block(text, "sql", "read_parquet(").strip())
    duckdb_cli = str(cli_env / "bin" / "duckdb")
    done = subprocess.run([duckdb_cli, "-csv", "-c", sql], capture_output=True, text=True, timeout=300)
    manifest = json.loads((published.settings.publish / "manifest.json").read_text(encoding="utf-8"))
    rows = {m["name"]: m["rows"] for m in manifest["marts"]}
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == str(rows["fct_indicator_progress"])


def test_every_example_query_in_the_docs_runs_on_the_published_snapshot(published: Published) -> None:
    """docs/bi.md §4: each SQL block, as written, on a read-only connection to the snapshot."""
    section = DOC.read_text(encoding="utf-8").split("## 4.", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 5
    con = open_snapshot(settings=published.settings)
    try:
        ran = 0
        for block in blocks:
            for statement in block.split(";"):
                if not re.sub(r"--[^\n]*", "", statement).strip():
                    continue
                con.execute(statement).fetchall()
                ran += 1
    finally:
        con.close()
    assert ran >= len(blocks)
