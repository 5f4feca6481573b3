"""Security: DuckDB file access of the loader, SQL built from input, Airflow auth and secrets,
formula escaping in the spreadsheets we write."""

from __future__ import annotations

import ast
import io
import re
import subprocess
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ingest.commit import _insert_arrow
from ingest.loader import warehouse_connection
from scorecard.core.settings import REPO_ROOT, Settings

# --- DuckDB: the loader's connection reaches its own database and nothing else -----------------


def _escaping_sql(tmp_path: Path) -> list[str]:
    out = tmp_path / "exfiltrated"
    return [
        f"COPY raw.file_ledger TO '{out}.csv'",
        f"COPY (SELECT 1) TO '{out}.parquet' (FORMAT parquet)",
        f"EXPORT DATABASE '{out}'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM glob('/etc/*')",
        f"ATTACH '{out}.duckdb' AS other",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET lock_configuration = false",
    ]


def test_the_loader_connection_cannot_touch_other_files(settings: Settings, tmp_path: Path) -> None:
    with warehouse_connection(settings) as con:
        for sql in _escaping_sql(tmp_path):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        # ...while its own database works as usual.
        con.execute(
            "INSERT INTO raw.file_ledger (file_id, file_name, sha256, size_bytes, received_at, status,"
            " rows_input, rows_loaded, rows_rejected) VALUES (1, 'f', 'x', 0, now(), 'rejected', 0, 0, 0)"
        )
        assert con.execute("SELECT count(*) FROM raw.file_ledger").fetchall() == [(1,)]
    assert list(tmp_path.glob("exfiltrated*")) == []


def test_a_plain_connection_could_have(settings: Settings, tmp_path: Path) -> None:
    """The control for the test above: the same SQL on an ordinary connection does escape."""
    with duckdb.connect(str(tmp_path / "plain.duckdb")) as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.file_ledger AS SELECT 1 AS x")
        con.execute(_escaping_sql(tmp_path)[0])
    assert (tmp_path / "exfiltrated.csv").exists()


# --- SQL: no identifier from input is ever interpolated -----------------------------------------

# f-string SQL allowed in ingest/, all on constants: the raw DDL, the checked Arrow insert, and the
# doctor's checks (raw table and column names from the raw-layer contract, conditions of its own).
ALLOWED_FORMATTED_SQL = {
    ("raw_layer.py", "ensure_raw_schema"),
    ("commit.py", "_insert_arrow"),
    ("doctor.py", "_rows"),
    ("doctor.py", "repair"),
}


def _formatted_execute_calls(path: Path) -> list[tuple[str, str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"execute", "executemany", "sql", "query"}
                and node.args
                and isinstance(node.args[0], ast.JoinedStr | ast.BinOp | ast.Call)
            ):
                found.append((path.name, function.name, node.lineno))
    return found


def test_sql_is_built_only_from_constants() -> None:
    calls = [
        call
        for path in [*sorted((REPO_ROOT / "ingest").glob("*.py")), REPO_ROOT / "scorecard/core/raw_layer.py"]
        for call in _formatted_execute_calls(path)
    ]
    assert {(name, function) for name, function, _ in calls} <= ALLOWED_FORMATTED_SQL, calls
    assert calls, "the scan found nothing at all: it is broken"


def test_the_one_formatted_insert_refuses_foreign_identifiers(settings: Settings) -> None:
    import pyarrow as pa

    with warehouse_connection(settings) as con:
        for table, columns in [
            ("submissions; DROP TABLE raw.file_ledger; --", {"file_id": [1]}),
            ("quarantine", {"file_id) SELECT 1; --": [1]}),
        ]:
            with pytest.raises(ValueError):
                _insert_arrow(con, table, pa.table(columns))
        assert con.execute("SELECT count(*) FROM raw.file_ledger").fetchall() == [(0,)]


# --- Airflow: no all-admins, no secrets in the repository ---------------------------------------


def repository_text_files() -> list[Path]:
    """Tracked files and new files not ignored (so a secret cannot hide in an uncommitted file)."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    files = []
    for name in filter(None, listing.split("\0")):
        path = REPO_ROOT / name
        if path.is_file() and path.suffix not in {".xlsx", ".parquet", ".duckdb", ".png", ".ico", ".lock"}:
            files.append(path)
    return files


def test_airflow_is_not_all_admins(settings: Settings) -> None:
    from scorecard.airflow.env import airflow_env, passwords_file

    env = airflow_env(settings)
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False").lower() not in {
        "true",
        "1",
        "yes",
    }
    # The generated admin password lives in the data directory, outside the repository.
    password_file = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    assert password_file == passwords_file(Path(env["AIRFLOW_HOME"]))
    assert not password_file.resolve().is_relative_to(REPO_ROOT)
    assert env["AIRFLOW__API__EXPOSE_CONFIG"].lower() == "false"


def test_no_file_in_the_repository_turns_on_all_admins() -> None:
    pattern = re.compile(r"ALL_ADMINS\W{0,4}(?:true|1|yes)\b", re.IGNORECASE)
    hits = [
        str(path.relative_to(REPO_ROOT))
        for path in repository_text_files()
        if path.name != "test_security.py"
        and pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert hits == []


SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(
        r"(?i)\b[\w.]*(?:password|passwd|secret|token|api_?key|fernet_?key)[\w.]*[\"']?\s*[:=]\s*"
        r"[\"'](?![\s\"'$<{*]|change|example|xxx|dummy|\{)[^\"'\s]{8,}[\"']"
    ),
    # Airflow settings holding a secret inline (the _CMD/_SECRET/_FILE variants point elsewhere).
    re.compile(
        r"(?i)AIRFLOW__\w*(?:PASSWORD|SECRET|FERNET_KEY)(?!\w*_(?:CMD|SECRET|FILE)\b)\w*\s*[:=]\s*"
        r"[\"']?(?![$/{])[^\s\"'$]{8,}"
    ),
    re.compile(r"(?i)\b(?:postgres(?:ql)?|redis|mysql)(?:\+\w+)?://[^:/\s@]+:(?!\$)[^@/\s]{4,}@"),
]


def find_secrets(text: str) -> list[str]:
    return [match.group(0) for pattern in SECRET_PATTERNS for match in pattern.finditer(text)]


@pytest.mark.parametrize(
    "line",
    [
        'AIRFLOW__CORE__FERNET_KEY="Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTA="',
        "api_key = 'sk-live-1234567890abcdef'",
        "SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:hunter22@db/airflow",
        "-----BEGIN RSA PRIVATE KEY-----",
        '{"password": "S3cret-Passw0rd"}',
    ],
)
def test_the_secret_scan_finds_planted_secrets(line: str) -> None:
    assert find_secrets(line)


def test_no_secrets_in_the_repository() -> None:
    hits = []
    for path in repository_text_files():
        if path.name == "test_security.py":
            continue
        for found in find_secrets(path.read_text(encoding="utf-8", errors="replace")):
            hits.append(f"{path.relative_to(REPO_ROOT)}: {found}")
    assert hits == []


def test_compose_secrets_are_files_outside_git() -> None:
    """Every secret docker-compose mounts is a file that git ignores (so it cannot be committed)."""
    import yaml

    compose = REPO_ROOT / "docker-compose.yml"
    if not compose.exists():
        pytest.skip("no docker-compose.yml in this checkout")
    spec = yaml.safe_load(compose.read_text(encoding="utf-8"))
    files = [entry["file"] for entry in (spec.get("secrets") or {}).values() if "file" in entry]
    assert files, "docker-compose.yml declares no secret files"
    for name in files:
        result = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO_ROOT, check=False)
        assert result.returncode == 0, f"{name} is not ignored by git"
    for service in (spec.get("services") or {}).values():
        environment = service.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment if "=" in item)
        assert (
            str(environment.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")).lower() != "true"
        )


def test_runtime_state_is_ignored_by_git() -> None:
    """var/ (default SCORECARD_HOME: warehouse, Airflow home with its generated password) is not
    committable."""
    probe = "var/airflow/simple_auth_manager_passwords.json.generated"
    result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO_ROOT, check=False)
    assert result.returncode == 0


# --- Spreadsheets we write: text that could be a formula is escaped -----------------------------

FORMULA_TEXTS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]


@pytest.mark.parametrize("text", FORMULA_TEXTS)
def test_publication_workbook_cells_escape_formulas(text: str) -> None:
    from reports.workbook import Column, SheetWriter, cell_value, new_workbook

    assert cell_value(text) == "'" + text
    assert cell_value(3.5) == 3.5
    buffer = io.BytesIO()
    workbook = new_workbook(buffer)
    writer = SheetWriter(workbook, "t", (Column("名称", "Name", "name"),))
    writer.append({"name": text})
    writer.finish()
    workbook.close()
    sheet = openpyxl.load_workbook(io.BytesIO(buffer.getvalue())).active
    cell = sheet.cell(row=3, column=1)
    assert cell.data_type != "f" and cell.value == "'" + text
    # A carriage return in front counts too (openpyxl turns it into a line feed when read back).
    assert cell_value("\r=1") == "'\r=1"


def test_submission_templates_hold_no_formulas(tmp_path: Path, settings: Settings) -> None:
    from ingest.templates import write_templates
    from reports.workbook import FORMULA_TRIGGERS

    written = write_templates(tmp_path / "templates", settings)
    workbooks = [path for path in written if path.suffix == ".xlsx"]
    assert workbooks
    for path in workbooks:
        for sheet in openpyxl.load_workbook(path).worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", (path.name, cell.coordinate)
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(FORMULA_TRIGGERS), (path.name, cell.coordinate)
    for path in written:
        if path.suffix == ".csv":
            text = path.read_text(encoding="utf-8-sig")
            assert not any(cell.startswith(FORMULA_TRIGGERS) for cell in re.split(r"[,\r\n]+", text) if cell)
