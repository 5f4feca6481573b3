"""docker-compose.yml, checked statically (no Docker here): valid YAML, the components of a
distributed Airflow, volumes consistent with the scorecard settings, no secret in the file, no
"everyone is admin" auth, CeleryExecutor."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from scorecard.core.settings import REPO_ROOT, Settings

COMPOSE = REPO_ROOT / "docker-compose.yml"
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker --queues default",
    "airflow-worker-warehouse": "celery worker --queues warehouse,default",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_of(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def test_services_and_commands(compose) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name
    assert services["airflow-worker"]["deploy"]["replicas"]  # scale out by replicas
    # the warehouse queue has exactly one consumer: the warehouse worker, one replica
    assert services["airflow-worker-warehouse"]["deploy"]["replicas"] == 1
    workers = {
        n: str(s["command"])
        for n, s in services.items()
        if str(s.get("command", "")).startswith("celery worker")
    }
    consumers = [n for n, command in workers.items() if "warehouse" in command.split("--queues")[-1]]
    assert consumers == ["airflow-worker-warehouse"]
    # every Airflow component waits for the DB migration and the pool
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "airflow pools set duckdb_writer 1" in init


def test_celery_postgres_redis_and_auth(compose) -> None:
    for name in AIRFLOW_SERVICES:
        env = env_of(compose["services"][name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["SCORECARD_AIRFLOW_PROFILE"] == "distributed", name
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed
        assert "db+postgresql+psycopg2://" in env["AIRFLOW__CELERY__RESULT_BACKEND_CMD"], name
        assert "postgresql" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"], name
        assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"], name
        assert (
            "redis://" in env["AIRFLOW__CELERY__BROKER_URL_CMD"]
            and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL_CMD"]
        ), name
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False", name
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/run/secrets/"), name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False", name
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/scorecard/dags", name


def test_no_secret_is_written_in_the_file(compose) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    # no key=value or key: value that looks like a literal password, token or key
    for match in re.finditer(r"(?i)(password|secret|token|fernet|passwd)[A-Z_]*\s*[:=]\s*(\S+)", text):
        value = match.group(2)
        assert value.startswith(("/run/secrets/", "${", "deploy/secrets/", "cat", "-")) or value.endswith(
            ":"
        ), match.group(0)
    assert not re.search(r"://[^:/\s]+:[^@$\s%]+@", text), "credentials inside a URL"
    # secrets come from files that are git-ignored
    for name, secret in compose["secrets"].items():
        path = REPO_ROOT / secret["file"]
        assert path.parent == REPO_ROOT / "deploy" / "secrets", name
    ignore = (REPO_ROOT / "deploy" / "secrets" / ".gitignore").read_text(encoding="utf-8").split()
    assert ignore[0] == "*"
    # every secret an Airflow component reads is mounted into it
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        env_text = "\n".join(env_of(service).values())
        for used in re.findall(r"/run/secrets/(\w+)", env_text):
            assert used in service["secrets"], (name, used)
            assert used in compose["secrets"], used
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]


def test_volumes_match_the_scorecard_settings(compose) -> None:
    home = Path("/opt/scorecard/var")
    settings = Settings(home=home)
    for name in ("airflow-init", *AIRFLOW_SERVICES):
        service = compose["services"][name]
        assert env_of(service)["SCORECARD_HOME"] == str(home), name
        mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
        assert mounts[str(home)] == "scorecard-data", name
        assert mounts[str(settings.publish)] == "scorecard-publish", name
        # inbox and processing are on one volume (the trigger claims by an atomic rename) and so are
        # archive/rejected (the loader moves files there) and the warehouse file
        for path in (
            settings.inbox,
            settings.processing,
            settings.archive,
            settings.rejected,
            settings.warehouse_path,
            settings.alerts_dir,
        ):
            owner = max((m for m in mounts if str(path).startswith(m + "/") or str(path) == m), key=len)
            assert mounts[owner] == "scorecard-data", (name, path)
    assert {"scorecard-data", "scorecard-publish", "postgres-db"} <= set(compose["volumes"])


def test_image_runs_the_repository_dags_and_dbt_project() -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    assert "uv sync --frozen" in dockerfile
    # every package the wheel ships (pyproject), so a new top-level package cannot be left out
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert {"scorecard", "ingest", "quality", "warehouse"} <= set(packages)
    for folder in (*packages, "dbt_project", "dags"):
        assert f"COPY {folder} ./{folder}" in dockerfile
        assert (REPO_ROOT / folder).is_dir()
    # the image installs exactly the locked environment, which must carry the Celery executor
    lock = (REPO_ROOT / "uv.lock").read_text(encoding="utf-8")
    # asyncpg: Airflow 3 opens an async engine on the metadata DB (postgresql+asyncpg)
    for package in ("apache-airflow-providers-celery", "psycopg2-binary", "redis", "asyncpg"):
        assert f'name = "{package}"' in lock, package
    # celery 5.7 removed celery.backends.database.retry, which providers-celery 3.26 imports
    celery = re.search(r'name = "celery"\nversion = "(\d+)\.(\d+)', lock)
    assert celery and (int(celery.group(1)), int(celery.group(2))) < (5, 7), "celery must be < 5.7"
    assert "AIRFLOW__CORE__DAGS_FOLDER=/opt/scorecard/dags" in dockerfile
    assert "SCORECARD_HOME=/opt/scorecard/var" in dockerfile


def test_the_dbt_worker_serves_only_the_warehouse_worker(compose) -> None:
    """The warm dbt worker: one replica, its socket on a volume shared with the warehouse worker
    (the only Airflow worker told to use it), the scorecard data mounted where the builds run."""
    services = compose["services"]
    worker = services["dbt-worker"]
    assert worker["deploy"]["replicas"] == 1
    assert worker["entrypoint"][-3:] == ["python", "-m", "warehouse.dbt_worker"]
    socket_path = worker["command"][worker["command"].index("--socket") + 1]
    socket_dir = str(Path(socket_path).parent)
    mounts = {n: dict(reversed(v.split(":")[:2]) for v in s.get("volumes", [])) for n, s in services.items()}
    assert mounts["dbt-worker"][socket_dir] == mounts["airflow-worker-warehouse"][socket_dir]
    assert mounts["dbt-worker"]["/opt/scorecard/var"] == "scorecard-data"
    assert socket_path in " ".join(map(str, worker["healthcheck"]["test"]))
    users = [name for name, service in services.items() if "SCORECARD_DBT_WORKER" in env_of(service)]
    assert users == ["airflow-worker-warehouse"]
    assert env_of(services["airflow-worker-warehouse"])["SCORECARD_DBT_WORKER"] == socket_path
    assert len(socket_path.encode()) <= 107  # AF_UNIX limit


def test_the_submission_api_service(compose) -> None:
    """`scorecard serve` as a service: the scorecard data where the inbox trigger and the loader
    see its files (the same volume, so the claim's rename stays atomic), published on the host's
    loopback only, a health check on its health endpoint, and no Airflow secret mounted."""
    api = compose["services"]["submission-api"]
    assert api["entrypoint"][-1] == "scorecard" and api["command"] == ["serve"]
    env = env_of(api)
    assert env["SCORECARD_HOME"] == "/opt/scorecard/var"
    port = env["SCORECARD_API_PORT"]
    assert [p.rsplit(":", 1)[-1] for p in api["ports"]] == [port]
    assert all(p.startswith("127.0.0.1:") for p in api["ports"])
    assert f"localhost:{port}/v1/health" in " ".join(api["healthcheck"]["test"])
    mounts = dict(reversed(v.split(":")[:2]) for v in api["volumes"])
    triggerer = dict(reversed(v.split(":")[:2]) for v in compose["services"]["airflow-triggerer"]["volumes"])
    assert mounts["/opt/scorecard/var"] == triggerer["/opt/scorecard/var"] == "scorecard-data"
    assert "secrets" not in api
    assert api["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
