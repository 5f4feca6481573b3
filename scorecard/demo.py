"""``scorecard demo`` (演示): the whole pipeline through a real Airflow, unattended.

1. start the warm dbt worker (``warehouse.dbt_worker``, so the build tasks skip dbt's start-up)
   and ``airflow standalone`` (embedded SQLite metadata, LocalExecutor), each in its own session,
   with the environment from :mod:`scorecard.airflow.env`; their output goes to
   ``<SCORECARD_HOME>/airflow/dbt-worker.log`` and ``standalone.log``; while Airflow starts, the
   sample submissions are generated into a staging folder and the worker parses the dbt project
   (:func:`parse_ahead`);
2. wait until ``/api/v2/monitor/health`` reports every component healthy and the task execution
   API has answered (:meth:`Standalone.execution_api_ready`), create the one-slot
   ``duckdb_writer`` pool (through the REST API) and wait until the DAGs are registered;
3. move the staged files into the inbox, each by an atomic rename as a department's upload client
   would, all at once by default (``--drop-seconds`` spreads them out);
4. wait until the published manifest covers every dropped file (the pipeline runs itself: the
   inbox watcher, ingest, build, gate, publish, alerts);
5. print a summary from the published snapshot (index scores and ranks of the 11 cities for the
   latest year, missed targets, alerts, where the report and the Airflow UI are);
6. stop Airflow cleanly with SIGINT (the only signal ``airflow standalone`` handles) and the
   worker with SIGTERM, unless ``--keep-running``.

The pipeline clock defaults to ``SCORECARD_AS_OF=2026-01-15`` (after the 2025 programme year, so
targets are judged, and before most 2025 reporting deadlines), unless the environment sets it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_AS_OF = "2026-01-15"
PIPELINE_DAGS = ("scorecard_ingest", "scorecard_build", "scorecard_check_publish")
ALL_DAGS = (*PIPELINE_DAGS, "scorecard_alerts", "scorecard_alert_reminders", "scorecard_deadlines")


def say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


class DemoError(RuntimeError):
    pass


# --- Airflow standalone, started and stopped -------------------------------------------------------


class Standalone:
    """``airflow standalone`` as a child in its own session (so only we signal it)."""

    def __init__(self, env: dict[str, str], home: Path, port: int) -> None:
        self.env = env
        self.home = home
        self.port = port
        self.base_url = f"http://localhost:{port}"
        self.log_path = home / "standalone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    def start(self) -> None:
        from scorecard.airflow.env import airflow_executable

        self.home.mkdir(parents=True, exist_ok=True)
        if port_in_use(self.port):
            raise DemoError(
                f"port {self.port} is in use: is another Airflow running? Stop it, or use --port."
            )
        log = self.log_path.open("ab")
        log.write(f"\n===== scorecard demo {datetime.now().isoformat()} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [airflow_executable(), "standalone"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # a child of a non-interactive shell may inherit SIGINT as ignored: restore it, it is
            # how standalone is told to shut its components down
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        log.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def execution_api_ready(self, timeout: float) -> bool:
        """``GET /execution/health``: the first request into the task execution API makes the API
        server build that API's versioned routes (Cadwyn, lazily, blocking every request of the
        server meanwhile: 14-18 s at load average 10-11). Asked as soon as the server listens, it
        is done before the first file is dropped instead of stalling the first task starts (the
        first ingest run's tasks waited 16 s for it in a demo)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/execution/health", timeout=timeout):
                return True
        except urllib.error.HTTPError:  # an answer all the same: the routes were built to give it
            return True
        except (urllib.error.URLError, OSError, ValueError):  # not listening yet, or timed out
            return False

    def wait_healthy(self, timeout: float) -> float:
        """Every component healthy and the task execution API ready (:meth:`execution_api_ready`,
        asked in the background from the moment the server answers); returns the seconds taken."""
        started = time.monotonic()
        components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        warming: Background | None = None
        while time.monotonic() - started < timeout:
            if not self.running():
                raise DemoError(f"airflow standalone exited early:\n{self.log_tail()}")
            health = self.health()
            if health is not None and (warming is None or (warming.done() and not warming.value)):
                warming = Background(lambda: self.execution_api_ready(timeout))
            if (
                health
                and all(c in health for c in components[:2])
                and all((health.get(c) or {}).get("status") == "healthy" for c in components if c in health)
                and warming is not None
                and warming.done()
                and warming.value
            ):
                return time.monotonic() - started
            time.sleep(0.5)
        raise DemoError(f"Airflow not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    # REST API (token from the generated admin password; never "all admins")
    def token(self) -> str:
        if self._token is None:
            from scorecard.airflow.env import ADMIN_USER, admin_password

            password = admin_password(self.home)
            if password is None:
                raise DemoError("no generated admin password yet")
            body = json.dumps({"username": ADMIN_USER, "password": password}).encode()
            request = urllib.request.Request(
                f"{self.base_url}/auth/token", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                self._token = json.loads(response.read())["access_token"]
        return self._token

    def api(self, path: str, method: str = "GET", body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token()}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            f"{self.base_url}/api/v2/{path}", data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")

    def wait_dags(self, dag_ids: tuple[str, ...], timeout: float) -> None:
        started = time.monotonic()
        seen: set[str] = set()
        while time.monotonic() - started < timeout:
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError, DemoError):
                data = self.api("dags?limit=100")
                seen = {d["dag_id"] for d in data.get("dags", [])}
                if set(dag_ids) <= seen:
                    errors = self.api("importErrors").get("import_errors", [])
                    if errors:
                        raise DemoError(f"DAG import errors: {errors}")
                    return
            time.sleep(0.5)
        raise DemoError(f"DAGs not registered after {timeout:.0f} s (seen: {sorted(seen)})")

    def latest_runs(self, dag_id: str, limit: int = 5) -> list[dict[str, Any]]:
        data = self.api(f"dags/{dag_id}/dagRuns?order_by=-run_after&limit={limit}")
        return data.get("dag_runs", [])

    def stop(self, timeout: float = 90) -> float | None:
        """SIGINT, then wait; escalate to SIGTERM/SIGKILL of its own session only if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say("standalone did not stop on SIGINT; terminating its session")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # components left behind in the session (should be none after a clean SIGINT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, 0)
            time.sleep(3)
            os.killpg(self.proc.pid, signal.SIGTERM)
        return time.monotonic() - started


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ensure_pool(env: dict[str, str], airflow: Standalone | None = None) -> None:
    """The one-slot ``duckdb_writer`` pool: through the running API server when ``airflow`` is
    given (a request; ``airflow pools set`` would start a Python that imports Airflow, seconds on
    this machine), else, or if the API refuses, with the CLI."""
    from scorecard.airflow.assets import POOL, POOL_DESCRIPTION, POOL_SLOTS
    from scorecard.airflow.env import airflow_executable

    if airflow is not None:
        body = {"name": POOL, "slots": POOL_SLOTS, "description": POOL_DESCRIPTION, "include_deferred": False}
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError, DemoError):
            try:
                airflow.api("pools", method="POST", body=body)
            except urllib.error.HTTPError as exc:
                if exc.code != 409:  # 409: it exists; set its slots as the CLI would
                    raise
                airflow.api(f"pools/{POOL}", method="PATCH", body=body)
            return
    proc = subprocess.run(
        [airflow_executable(), "pools", "set", POOL, str(POOL_SLOTS), POOL_DESCRIPTION],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DemoError(f"could not create pool {POOL}: {proc.stderr[-2000:]}")


class Background(threading.Thread):
    """A call run beside the main thread (the dbt worker's start, the sample generation, while
    Airflow starts); :meth:`result` joins it and returns its value or raises its exception."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.value: Any = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.call()
        except BaseException as exc:  # handed to whoever joins
            self.error = exc

    def done(self) -> bool:
        return not self.is_alive()

    def result(self) -> Any:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def parse_ahead(starting: Background, env: dict[str, str]) -> bool:
    """Once the dbt worker listens (``starting``: its start, in the background), have it parse the
    project for both kinds of build with the environment the Airflow tasks will send it
    (``warehouse.dbt.warm_worker`` in a child given ``env``: the worker keys each parsed manifest
    by the ``SCORECARD_*``/``DBT_*`` values, so a parse with the demo's own environment would not
    serve the build tasks). Runs while Airflow starts and the files go in, so the first build
    does not parse; a build asked for meanwhile waits for the parse (one request at a time)."""
    starting.join()
    if starting.error is not None:
        return False
    code = "import sys; from warehouse.dbt import warm_worker; sys.exit(0 if warm_worker() else 1)"
    warmed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if warmed.returncode != 0:  # the first build parses instead: slower, not wrong
        say(f"the dbt worker did not parse the project ahead: {(warmed.stderr or '').strip()[-500:]}")
    return warmed.returncode == 0


# --- dropping the files and waiting for publication -------------------------------------------------


def stage(settings: Any) -> list[Path]:
    """Generate the sample set into a staging folder beside the inbox; returns its files. The demo
    runs this while Airflow starts, so the drop itself is only renames."""
    import shutil

    from ingest.loader import RESERVED_NAMES
    from samples.generate import generate

    staging = settings.home / "demo_staging"
    shutil.rmtree(staging, ignore_errors=True)
    generate(staging, settings=settings)
    return sorted(p for p in staging.rglob("*") if p.is_file() and p.name not in RESERVED_NAMES)


def drop(
    settings: Any,
    files: list[Path],
    seconds: float,
    via_api: tuple[str, str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rename each staged file into the inbox, spread over ``seconds``.

    ``via_api`` = (server URL, department, its token): that department's files are sent through
    the submission API instead (each entry then has its ``submission_id``, and ``inbox_name``, the
    name the API gave it in the inbox)."""
    import hashlib
    import shutil

    from scorecard.api.client import submit_file

    staging = settings.home / "demo_staging"
    pause = seconds / max(1, len(files))
    dropped = []
    for source in files:
        relative = source.relative_to(staging)
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if via_api is not None and relative.parts[0] == via_api[1]:
            url, _, token = via_api
            status, answer = submit_file(url, token, source, idempotency_key=f"demo-{digest}")
            if status != 202:
                raise DemoError(f"the API refused {relative} ({status}): {answer}")
            dropped.append(
                {
                    "relative": str(relative),
                    "name": source.name,
                    "sha256": digest,
                    "submission_id": answer["submission_id"],
                    "inbox_name": f"{answer['submission_id']}{source.suffix.lower()}",
                }
            )
        else:
            target = settings.inbox / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)  # atomic: the watcher never sees a half-written file
            dropped.append({"relative": str(relative), "name": source.name, "sha256": digest})
        if pause:
            time.sleep(pause)
    shutil.rmtree(staging, ignore_errors=True)
    return dropped


def stage_and_drop(
    settings: Any, seconds: float, via_api: tuple[str, str, str] | None = None
) -> list[dict[str, Any]]:
    """Generate the sample set aside, then rename each file into the inbox, spread over ``seconds``
    (:func:`stage`, then :func:`drop`)."""
    return drop(settings, stage(settings), seconds, via_api)


def read_manifest(settings: Any) -> dict[str, Any] | None:
    path = settings.publish / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pending_files(settings: Any, dropped: list[dict[str, Any]]) -> list[str]:
    """Dropped files still in the inbox or in processing/ (not loaded yet)."""
    names = {d.get("inbox_name", d["name"]) for d in dropped}
    waiting = []
    for folder in (settings.inbox, settings.processing):
        waiting += [p.name for p in folder.rglob("*") if p.is_file() and p.name in names]
    return waiting


def coverage(
    settings: Any, manifest: dict[str, Any] | None, dropped: list[dict[str, Any]], since: str
) -> int:
    """How many dropped files the published manifest accounts for (loaded ones by their hash;
    rejected ones are in rejected/ and are not part of any publication)."""
    if not manifest or str(manifest.get("published_at", "")) < since:
        return 0
    published = {f.get("sha256") for f in manifest.get("source_files", [])}
    rejected = {p.name for p in settings.rejected.rglob("*") if p.is_file()}
    return sum(1 for d in dropped if d["sha256"] in published or d["name"] in rejected)


def wait_for_publication(
    airflow: Standalone, settings: Any, dropped: list[dict[str, Any]], since: str, timeout: float
) -> dict[str, Any]:
    started = time.monotonic()
    last_report = 0.0
    while time.monotonic() - started < timeout:
        if not airflow.running():
            raise DemoError(f"airflow standalone exited:\n{airflow.log_tail()}")
        manifest = read_manifest(settings)
        covered = coverage(settings, manifest, dropped, since)
        if covered == len(dropped):
            return manifest or {}
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            # by name: a file claimed between the walks of inbox/ and processing/ is seen in both
            waiting = set(pending_files(settings, dropped))
            say(f"waiting: {len(dropped) - len(waiting)}/{len(dropped)} files loaded, {covered} published")
            if not waiting:
                check_for_failed_gate(airflow)
        time.sleep(0.5)
    raise DemoError(f"no publication covering all {len(dropped)} files after {timeout:.0f} s")


def check_for_failed_gate(airflow: Standalone) -> None:
    """Everything is loaded and nothing is running, but the last check failed: say so and stop."""
    with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError):
        active = [
            run
            for dag_id in PIPELINE_DAGS
            for run in airflow.latest_runs(dag_id)
            if run.get("state") in ("queued", "running")
        ]
        if active:
            return
        latest = airflow.latest_runs("scorecard_check_publish", limit=1)
        if latest and latest[0].get("state") == "failed":
            raise DemoError(
                "the last check-and-publish run failed (quality gate or publication); nothing new was "
                f"published. See the Airflow UI ({airflow.base_url}) and the alerts."
            )


def rendered(settings: Any, manifest: dict[str, Any]) -> bool:
    """The report and workbook in publish/ are those of the release ``manifest`` announces."""
    from reports.release import RENDERED_NAMES

    release = settings.publish / "releases" / str(manifest.get("run_id"))
    return all(
        (release / name).is_file() and (settings.publish / name).resolve() == (release / name).resolve()
        for name in RENDERED_NAMES
    )


def wait_for_rendering(settings: Any, manifest: dict[str, Any], timeout: float) -> None:
    """The report and workbook are rendered after publication, in a task of their own
    (``render_release``): wait for them before pointing at them, and before stopping Airflow
    (which would stop the rendering half-way)."""
    started = time.monotonic()
    while not rendered(settings, manifest):
        if time.monotonic() - started >= timeout:
            raise DemoError(
                f"the report and workbook of release {manifest.get('run_id')} were not rendered after "
                f"{timeout:.0f} s (task render_release of scorecard_check_publish; see the Airflow UI)"
            )
        time.sleep(0.5)


def wait_for_alerts(airflow: Standalone, manifest: dict[str, Any], timeout: float) -> None:
    """The publication starts the alerts DAG: wait for its run so the summary shows what went out."""
    published_at = str(manifest.get("published_at", ""))
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(urllib.error.URLError, OSError, ValueError, KeyError):
            for run in airflow.latest_runs("scorecard_alerts", limit=3):
                if str(run.get("run_after", "")) >= published_at and run.get("state") in (
                    "success",
                    "failed",
                ):
                    say(f"alerts DAG run {run['state']}")
                    return
        time.sleep(0.5)
    say("alerts DAG run not finished yet; the summary shows the alerts delivered so far")


# --- the summary ------------------------------------------------------------------------------------


def programme_summary(settings: Any) -> str:
    """The programme itself: the 29 indicators and their 2021-2025 targets, from the warehouse."""
    import duckdb

    from reports.summary import read_indicator_targets, render

    try:
        return render(read_indicator_targets(settings))
    except duckdb.Error as exc:  # e.g. a deadline run holds the warehouse right now
        return f"(the programme summary could not be read now: {exc}; run `scorecard summary`)"


def airflow_ui_line(settings: Any, airflow_url: str) -> str:
    """Where the UI is and which file holds the admin's generated password (not just a folder)."""
    from scorecard.airflow.env import ADMIN_USER, airflow_home, passwords_file

    password_file = passwords_file(airflow_home(settings))
    return f"Airflow UI: {airflow_url} (user {ADMIN_USER}, password in {password_file} 密码文件)"


def alert_digest_lines(settings: Any) -> list[str]:
    """What the alert channels were told: state changes by kind (the JSON-lines log) and the first
    publication's digests, one per owner (what each department's channels received)."""
    from alerts.engine import first_publication_digests

    lines: list[str] = []
    changes: Counter = Counter()
    jsonl = settings.alerts_dir / "alerts.jsonl"
    if jsonl.exists():
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                changes[f"{record.get('kind', '?')} {record.get('change', '?')}"] += 1
    lines.append(
        f"alert state changes 预警状态变化 ({jsonl}): "
        + (", ".join(f"{k} {n}" for k, n in changes.most_common()) or "none yet")
    )
    digests = first_publication_digests(settings)
    quality = sum(1 for d in digests for c in d.changes if c.alert.kind == "quality_check")
    lines.append(
        f"first publication 首次发布: {len(digests)} digests, one per owner 每个责任处室一条 "
        f"({', '.join(d.owner.code for d in digests) or 'none'}); quality-check alerts 质量预警: {quality}"
    )
    for digest in digests:
        lines.append("")
        lines.extend(digest.lines)
    return lines


def summarise(settings: Any, manifest: dict[str, Any], airflow_url: str, elapsed: dict[str, float]) -> str:
    from reports.summary import fit, targets_met
    from scorecard.core.zones import read_zones
    from warehouse.publish import open_snapshot

    lines: list[str] = []
    con = open_snapshot(settings=settings)
    try:
        tables = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        index_tables = [(z.zone_code, z.index_model, z.name_zh) for z in read_zones(settings.seeds_dir)]
        present = [(z, t, zh) for z, t, zh in index_tables if t in tables]
        years = [
            con.execute(
                f"select max(year) from marts.{t} where region_level = 'city' and index_score is not null"
            ).fetchone()[0]
            for _, t, _ in present
        ]
        year = max((y for y in years if y is not None), default=None)
        lines.append("")
        lines.append(f"共同富裕评价 Common Prosperity Scorecard — 11 cities, {year}")
        if year is not None:
            scores: dict[str, dict[str, tuple[float | None, int | None]]] = {}
            names: dict[str, str] = {}
            for zone, table, _ in present:
                for code, name_zh, name_en, score, rank in con.execute(
                    f"select region_code, region_name_zh, region_name_en, index_score, rank_in_level "
                    f"from marts.{table} where region_level = 'city' and year = ? order by region_code",
                    [year],
                ).fetchall():
                    scores.setdefault(code, {})[zone] = (score, rank)
                    names[code] = f"{name_zh} {name_en}"
            header = fit("city 城市", 24) + "".join(fit(f"{zh} {z}", 16, right=True) for z, _, zh in present)
            lines.append(header)
            for code in sorted(names):  # the official order of the cities is by code (杭州 3301 first)
                cells = []
                for zone, _, _ in present:
                    score, rank = scores[code].get(zone, (None, None))
                    cells.append(f"{'-' if score is None else f'{score:5.1f}'} (#{rank or '-'})".rjust(16))
                lines.append(fit(names[code], 24) + "".join(cells))
        if "fct_indicator_progress" in tables and year is not None:
            # as the report's headline counts them (reports.summary.targets_met)
            judged_year = con.execute(
                "select max(year) from marts.fct_indicator_progress where year_status in ('met', 'not_met')"
            ).fetchone()[0]
            if judged_year is not None:
                met = targets_met(con, judged_year)
                lines.append(
                    f"targets met {judged_year} 达标: "
                    + ", ".join(
                        f"{level} {met[level][0]}/{met[level][1]}"
                        for level in ("province", "city", "county")
                        if level in met
                    )
                )
        if "fct_alerts" in tables:
            kinds = con.execute(
                "select alert_kind, count(*) from marts.fct_alerts group by 1 order by 2 desc"
            ).fetchall()
            total = sum(n for _, n in kinds)
            lines.append(
                f"alerts in the snapshot 预警 ({total}): "
                + (", ".join(f"{k} {n}" for k, n in kinds) or "none")
            )
            if "dim_region" in tables:
                split = con.execute(
                    "select a.alert_kind, coalesce(r.region_level, 'department'), count(*) "
                    "from marts.fct_alerts as a left join marts.dim_region as r using (region_code) "
                    "group by 1, 2 order by 1, 2"
                ).fetchall()
                lines.append(
                    "  by kind and level 按类型与层级: "
                    + ", ".join(f"{kind}/{level} {n}" for kind, level, n in split)
                )
    finally:
        con.close()

    lines.extend(alert_digest_lines(settings))
    lines.append(f"published snapshot 发布快照: {settings.publish / 'scorecards.duckdb'}")
    lines.append(f"manifest 清单: {settings.publish / 'manifest.json'} (run {manifest.get('run_id')})")
    lines.append(f"Parquet: {settings.publish / 'parquet'}")
    lines.append(f"report 报告 (open in a browser): {settings.publish / 'report.html'}")
    lines.append(f"workbook 工作簿 (Excel): {settings.publish / 'scorecards.xlsx'}")
    lines.append(f"archived files 已归档: {sum(1 for p in settings.archive.rglob('*') if p.is_file())}")
    lines.append(airflow_ui_line(settings, airflow_url))
    lines.append("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in elapsed.items()))
    return "\n".join(lines)


# --- the command ----------------------------------------------------------------------------------


def api_status_lines(url: str, token: str, dropped: list[dict[str, Any]]) -> list[str]:
    """The status answer of each file sent through the API (GET /v1/submissions/{id}), one JSON
    line each: what the department's system would read back."""
    from scorecard.api.client import request

    lines = []
    for entry in dropped:
        if "submission_id" not in entry:
            continue
        status, answer = request(url, "GET", f"/v1/submissions/{entry['submission_id']}", token=token)
        lines.append(f"{status} {json.dumps(answer, ensure_ascii=False)}")
    return lines


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keep-running", action="store_true", help="leave Airflow running at the end")
    parser.add_argument("--port", type=int, default=8080, help="Airflow API/UI port (default 8080)")
    parser.add_argument(
        "--drop-seconds",
        type=float,
        default=0.0,
        help="spread the drops over this long (default: all at once, as at a reporting deadline)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for publication")
    parser.add_argument(
        "--via-api",
        metavar="DEPARTMENT",
        help="send this department's files through the submission API (scorecard serve) instead of"
        " the folder, and print their status answers",
    )


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("SCORECARD_AS_OF", DEFAULT_AS_OF)
    from scorecard.airflow.env import airflow_env, airflow_home
    from scorecard.core.settings import get_settings
    from warehouse.dbt_worker import WorkerProcess

    settings = get_settings()
    settings.ensure_dirs()
    home = airflow_home(settings)
    env = airflow_env(settings, home=home, port=args.port)
    # dbt kept warm beside Airflow: the build tasks send their builds to it (SCORECARD_DBT_WORKER)
    worker = WorkerProcess(settings.home / "dbt-worker.sock", env=env, log_path=home / "dbt-worker.log")
    env["SCORECARD_DBT_WORKER"] = str(worker.socket_path)
    airflow = Standalone(env, home, args.port)
    api_server = None
    if args.via_api:
        from ingest.reference import load_reference
        from scorecard.api.client import ApiServer

        if args.via_api not in load_reference(settings).departments:
            say(f"FAILED: unknown department for --via-api: {args.via_api}")
            return 2
        api_server = ApiServer(env, home / "submission-api.log")
    say(f"SCORECARD_HOME={settings.home}  AIRFLOW_HOME={home}  as of {settings.today()}")
    elapsed: dict[str, float] = {}
    t0 = time.monotonic()
    stop_requested = False

    def interrupted(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        # Airflow's start-up (~20 s) is mostly waiting on its own processes: the dbt worker's
        # start, the sample generation and the API server run meanwhile, not one after the other.
        warming = Background(worker.start)
        Background(lambda: parse_ahead(warming, env))
        staging = Background(lambda: stage(settings))
        serving = Background(api_server.start) if api_server is not None else None
        say(f"starting airflow standalone (log: {airflow.log_path})")
        airflow.start()
        elapsed["airflow healthy"] = airflow.wait_healthy(timeout=300)
        say(f"Airflow healthy after {elapsed['airflow healthy']:.0f} s: {airflow.base_url}")
        ensure_pool(env, airflow)
        airflow.wait_dags(ALL_DAGS, timeout=180)
        say(f"pool duckdb_writer (1 slot) ready; {len(ALL_DAGS)} DAGs registered")
        try:
            took = warming.result()
            say(f"dbt worker listening on {worker.socket_path} after {took:.0f} s (log: {worker.log_path})")
        except RuntimeError as exc:  # the builds fall back to a dbt subprocess each
            say(f"dbt worker not started, builds run dbt in a subprocess: {exc}")
        files = staging.result()
        say(f"{len(files)} sample submissions generated")

        via_api = None
        if serving is not None:
            from scorecard.api.tokens import TokenStore

            url = serving.result()
            _, token = TokenStore(settings.home).create(args.via_api)
            via_api = (url, args.via_api, token)
            say(f"submission API listening on {url}; {args.via_api}'s files go through it")
        since = datetime.now(UTC).isoformat(timespec="seconds")
        t_drop = time.monotonic()
        dropped = drop(settings, files, args.drop_seconds, via_api)
        sent = sum(1 for d in dropped if "submission_id" in d)
        say(
            f"dropped {len(dropped) - sent} files into {settings.inbox}"
            + (f" and sent {sent} through the API" if via_api else "")
            + f" over {time.monotonic() - t_drop:.0f} s"
        )
        manifest = wait_for_publication(airflow, settings, dropped, since, args.timeout)
        elapsed["drop to publication"] = time.monotonic() - t_drop
        say(f"published run {manifest.get('run_id')} covering all {len(dropped)} files")
        wait_for_alerts(airflow, manifest, timeout=180)
        wait_for_rendering(settings, manifest, timeout=args.timeout)
        elapsed["drop to report"] = time.monotonic() - t_drop
        say("report and workbook rendered")
        leftover = pending_files(settings, dropped)
        if leftover:
            raise DemoError(f"files not archived: {leftover[:10]}")
        elapsed["total"] = time.monotonic() - t0
        print("\n四个体系指标与年度目标 The programme: 29 indicators and their annual targets", flush=True)
        print(programme_summary(settings), flush=True)
        print(summarise(settings, manifest, airflow.base_url, elapsed), flush=True)
        if via_api is not None:
            print(f"\n报送接口状态应答 The API's status answers ({args.via_api}):", flush=True)
            for line in api_status_lines(via_api[0], via_api[2], dropped):
                print(line, flush=True)
        if args.keep_running:
            say(f"Airflow keeps running (pid {airflow.proc.pid}); stop it with: kill -INT {airflow.proc.pid}")
            return 0
        return 0
    except DemoError as exc:
        say(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        if api_server is not None:
            api_server.stop()
        stopping = not args.keep_running or stop_requested
        if airflow.running() and stopping:
            say("stopping Airflow (SIGINT) ...")
            took = airflow.stop()
            say(f"Airflow stopped in {took or 0:.0f} s (exit code {airflow.proc.returncode})")
        if stopping:
            worker.stop()
        elif worker.proc is not None:
            say(f"the dbt worker keeps running (pid {worker.proc.pid}); stop it with: kill {worker.proc.pid}")
        sys.stdout.flush()
