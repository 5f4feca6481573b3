"""``make bi`` / ``scorecard bi``: Apache Superset on the published snapshot, with a ready dashboard.

Superset is installed from PyPI into an environment of its own under the data directory
(``$SCORECARD_HOME/bi/venv``, from ``bi/requirements.txt``), never into the project's lock: its
pins conflict with Airflow's, and its DuckDB driver pins ``duckdb<2`` (the snapshot is written
for DuckDB 1.4+). Everything Superset keeps lives in ``$SCORECARD_HOME/bi/``: its metadata
database, its configuration (a generated secret key) and the generated admin password
(``admin-password``, mode 0600).

Steps (each idempotent): the environment; ``superset db upgrade``; the admin user with a
generated password; ``superset init``; the dashboard bundle of ``bi/assets`` imported with the
database's URI pointing at ``publish/scorecards.duckdb`` (the stable link, opened read-only);
then Superset served on 127.0.0.1. Superset opens a new DuckDB connection per query (its engines
use SQLAlchemy's NullPool), and nothing caches query results (``DATA_CACHE_CONFIG`` is a
NullCache), so the next query after a publication reads the new release.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scorecard.core.settings import REPO_ROOT, Settings, get_settings

BI_DIR = REPO_ROOT / "bi"
REQUIREMENTS = BI_DIR / "requirements.txt"
ASSETS = BI_DIR / "assets"
#: In the asset bundle, replaced at import by the snapshot's SQLAlchemy URI.
SNAPSHOT_URI_PLACEHOLDER = "__SCORECARD_SNAPSHOT_URI__"
ADMIN_USER = "admin"
DEFAULT_PORT = 8088
DASHBOARD_SLUG = "scorecards"


class BIError(RuntimeError):
    """Superset could not be set up or started; the message says which step and why."""


@dataclass(frozen=True)
class Superset:
    """Where one data directory's Superset lives."""

    home: Path  # $SCORECARD_HOME/bi
    port: int = DEFAULT_PORT

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    @property
    def config_path(self) -> Path:
        return self.home / "superset_config.py"

    @property
    def password_path(self) -> Path:
        return self.home / "admin-password"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dashboard_url(self) -> str:
        return f"{self.url}/superset/dashboard/{DASHBOARD_SLUG}/"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SUPERSET_CONFIG_PATH=str(self.config_path),
            SUPERSET_HOME=str(self.home),
            FLASK_APP="superset",
            PYTHONUNBUFFERED="1",
        )
        env.pop("PYTHONPATH", None)
        return env

    def admin_password(self) -> str:
        return self.password_path.read_text(encoding="utf-8").strip()


def superset_for(settings: Settings, port: int = DEFAULT_PORT) -> Superset:
    return Superset(settings.home / "bi", port)


def _uv() -> str:
    for candidate in (REPO_ROOT / ".uv" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise BIError("uv not found (run `make install`, which puts it in .uv/bin/uv)")


def _run(step: str, args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-25:]
        raise BIError(f"{step} failed (exit {done.returncode}):\n" + "\n".join(tail))


def ensure_environment(superset: Superset) -> None:
    """Superset's own environment from ``bi/requirements.txt`` (again only when they changed)."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    marker = superset.venv / ".requirements.sha256"
    if marker.exists() and marker.read_text().strip() == wanted:
        return
    superset.home.mkdir(parents=True, exist_ok=True)
    uv = _uv()
    if not (superset.bin / "python").exists():
        _run(
            "creating Superset's environment",
            [uv, "venv", "--quiet", "--python", sys.executable, str(superset.venv)],
        )
    _run(
        "installing Superset (bi/requirements.txt)",
        [uv, "pip", "install", "--quiet", "--python", str(superset.bin / "python"), "-r", str(REQUIREMENTS)],
    )
    marker.write_text(wanted)


CONFIG_TEMPLATE = """# Written by `scorecard bi` (scorecard/bi.py); regenerated on every start.
SECRET_KEY = {secret!r}
SQLALCHEMY_DATABASE_URI = {metadata!r}
# No result cache: the next query after a publication reads the new release.
DATA_CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
CACHE_CONFIG = {{"CACHE_TYPE": "NullCache"}}
# Served on 127.0.0.1 over plain HTTP. The pages may load nothing from outside: Superset 6.1's
# default policy allows a telemetry pixel (Scarf) and map tiles, which its pages then request.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {{
    "content_security_policy": {{
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    }},
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}}
SESSION_COOKIE_SECURE = False
WTF_CSRF_ENABLED = True
"""


def write_config(superset: Superset) -> None:
    """``superset_config.py`` with a secret key generated once and kept (mode 0600)."""
    superset.home.mkdir(parents=True, exist_ok=True)
    secret_path = superset.home / "secret-key"
    if not secret_path.exists():
        _write_private(secret_path, secrets.token_urlsafe(48))
    text = CONFIG_TEMPLATE.format(
        secret=secret_path.read_text(encoding="utf-8").strip(),
        metadata=f"sqlite:///{superset.home / 'superset.db'}",
    )
    _write_private(superset.config_path, text)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def initialise(superset: Superset) -> None:
    """Superset's metadata database, the admin user (generated password) and its roles."""
    env = superset.env()
    cli = str(superset.bin / "superset")
    _run("superset db upgrade", [cli, "db", "upgrade"], env)
    if not superset.password_path.exists():
        password = secrets.token_urlsafe(16)
        _run(
            "creating the admin user",
            [
                cli,
                "fab",
                "create-admin",
                "--username",
                ADMIN_USER,
                "--firstname",
                "Scorecard",
                "--lastname",
                "Admin",
                "--email",
                "admin@localhost",
                "--password",
                password,
            ],
            env,
        )
        _write_private(superset.password_path, password)
    _run("superset init", [cli, "init"], env)


def snapshot_uri(snapshot: Path) -> str:
    """duckdb-engine's URI of the stable snapshot link (absolute path)."""
    return f"duckdb:///{snapshot.absolute()}"


def asset_bundle(snapshot: Path, out: Path) -> Path:
    """``bi/assets`` as the zip Superset imports: the database URI set to ``snapshot``, and each
    dataset column without a label given its label from the BI contract (bi_contract.yml)."""
    import yaml

    from warehouse.bi_contract import load_contract

    contract = load_contract()
    uri = snapshot_uri(snapshot)
    with zipfile.ZipFile(out, "w") as bundle:
        for path in sorted(ASSETS.rglob("*.yaml")):
            text = path.read_text(encoding="utf-8").replace(SNAPSHOT_URI_PLACEHOLDER, uri)
            if path.parent.parent.name == "datasets":
                dataset = yaml.safe_load(text)
                for column in dataset["columns"]:
                    label = contract.any_column(column["column_name"])
                    if column.get("verbose_name") is None and label is not None:
                        column["verbose_name"] = label.text
                text = yaml.safe_dump(dataset, allow_unicode=True, sort_keys=False)
            bundle.writestr(f"scorecards/{path.relative_to(ASSETS)}", text)
    return out


def import_assets(superset: Superset, snapshot: Path) -> None:
    """Import the database, datasets, charts and dashboard of ``bi/assets``, overwriting earlier
    imports (bi/import_assets.py, run by Superset's Python)."""
    bundle = asset_bundle(snapshot, superset.home / "assets.zip")
    _run(
        "importing the dashboard (bi/assets)",
        [str(superset.bin / "python"), str(BI_DIR / "import_assets.py"), str(bundle), ADMIN_USER],
        superset.env(),
    )


def start(superset: Superset, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Serve Superset on 127.0.0.1 (gunicorn, one worker); returns once it answers /health."""
    log_path = log_path or superset.home / "superset.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            str(superset.bin / "gunicorn"),
            "--bind",
            f"127.0.0.1:{superset.port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--timeout",
            "300",
            "superset.app:create_app()",
        ],
        env=superset.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            raise BIError(f"Superset exited with {proc.returncode}:\n" + "\n".join(tail))
        try:
            with urllib.request.urlopen(f"{superset.url}/health", timeout=5) as response:
                if response.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    stop(proc)
    raise BIError(f"Superset did not answer {superset.url}/health within 300 s (log: {log_path})")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a Superset started by :func:`start` (its process group: gunicorn and its worker)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def prepare(superset: Superset, snapshot: Path) -> None:
    """Everything before serving: environment, configuration, metadata, admin, dashboard."""
    if not snapshot.exists():
        raise BIError(
            f"没有已发布的快照 / no published snapshot at {snapshot}: run `make demo` "
            "(or `scorecard run`) first"
        )
    steps = (
        ("environment", lambda: ensure_environment(superset)),
        ("configuration", lambda: write_config(superset)),
        ("metadata and admin", lambda: initialise(superset)),
        ("dashboard", lambda: import_assets(superset, snapshot)),
    )
    for name, step in steps:
        print(f"[bi] {name} ...", flush=True)
        step()


# --- CLI -----------------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default 8088)")


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    superset = superset_for(settings, args.port)
    snapshot = settings.publish / "scorecards.duckdb"
    try:
        prepare(superset, snapshot)
        proc = start(superset)
    except BIError as exc:
        print(f"[bi] {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "url": superset.dashboard_url,
                "user": ADMIN_USER,
                "password": superset.admin_password(),
                "password_file": str(superset.password_path),
                "snapshot": str(snapshot),
            },
            ensure_ascii=False,
            indent=2,
        ),
        flush=True,
    )
    print(
        f"Superset: {superset.dashboard_url}  (user {ADMIN_USER}, password above; Ctrl-C stops it)",
        flush=True,
    )
    try:
        while proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop(proc)
    return 0
