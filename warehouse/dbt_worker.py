"""A warm dbt worker (dbt 常驻进程): dbt imported and the project parsed once, each build in a
forked child.

Why: every ``dbt build`` in a fresh process pays for the interpreter, dbt's imports (~3.5 s on
this machine) and loading the manifest (~1.5 s) before its first node. After one department's
submission that is a third of the incremental build (docs/benchmarks.md). The worker pays them
once and keeps the parsed manifest in memory.

Every request still runs in a child process of its own (``os.fork``): the child's DuckDB
connection, dbt's global state and its memory end with it, exactly as with a ``dbt`` subprocess,
so the warehouse file is unlocked as soon as the build returns (DuckDB allows one writer
process). The worker itself never opens the warehouse.

Protocol: one request per connection on a Unix socket, one JSON line each way::

    -> {"args": ["build", ...], "env": {...}, "cwd": "/path"}           (or "prepare": true)
    <- {"returncode": 0, "stdout": "...", "stderr": "...", "parsed": true, "max_rss_kib": 123}

The manifest is cached under a digest of the dbt project's files and of the ``SCORECARD_*`` /
``DBT_*`` environment (the values dbt reads while parsing); a request whose digest differs is
parsed again first (dbt's partial parsing), so a changed model is never built from a stale
manifest. Two are kept: full builds (on the shadow copy) and incremental ones (in place) name
different warehouse files. A client that disconnects mid-build (a killed Airflow task) gets its
child stopped, so no orphaned build keeps writing a warehouse that a retry is about to build.

Clients use :func:`request`; ``warehouse.dbt.run_dbt`` does when ``SCORECARD_DBT_WORKER`` names
the socket and falls back to a subprocess when no worker answers. Serve with
``scorecard dbt-worker`` (or ``python -m warehouse.dbt_worker``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import subprocess

# AF_UNIX paths are limited to 108 bytes including the terminating NUL on Linux.
MAX_SOCKET_PATH = 107
# Environment prefixes whose values dbt may read while parsing (env_var() in dbt_project.yml,
# profiles.yml and models); the cached manifest is only reused when they are unchanged.
PARSE_ENV_PREFIXES = ("SCORECARD_", "DBT_")
# ... except those that only shape dbt's output: run_dbt turns colours off for captured output,
# which warm_worker's parse does not; counting it made every build after a warm-up parse again.
PARSE_ENV_IGNORED = frozenset({"DBT_USE_COLORS"})
# manifests kept (each ~50-100 MiB): one per build environment in use
CACHED_MANIFESTS = 2
# The signals that stop the worker (SIGTERM, SIGINT) and, sent by the worker, its build.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
# How often a build's client (and, without pidfds, its child) is looked at while it runs.
CHILD_POLL_SECONDS = 0.05
# How long a build whose client left may take to stop on SIGINT before it is killed.
STOP_GRACE_SECONDS = 10
# Parts of a dbt project whose content the manifest is built from.
PROJECT_PARTS = (
    "models",
    "seeds",
    "macros",
    "tests",
    "snapshots",
    "analyses",
    "dbt_project.yml",
    "selectors.yml",
    "profiles.yml",
)

# What dbt imports only when it builds (its build, test and seed tasks, their result tables and SQL
# formatting), imported once here rather than in every build's child: ~50 modules, ~0.1 s of a
# build after a file (bench/notes.md, issue #22).
BUILD_IMPORTS = (
    "dbt.task.build",
    "dbt.compilation",
    "dbt.parser.sql",
    "dbt.graph.thread_pool",
    "dbt.adapters.duckdb.environments.local",
    "dbt_common.clients.agate_helper",
    "multiprocessing.dummy",
    "sqlparse",
    "daff",
    "babel.dates",
)


class WorkerError(RuntimeError):
    """The worker took the request but did not answer it (it died or was stopped mid-build)."""


@dataclass(frozen=True)
class WorkerReply:
    returncode: int
    stdout: str
    stderr: str
    parsed: bool
    max_rss_kib: int


# --- the client ----------------------------------------------------------------------------------


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(str(path))) > MAX_SOCKET_PATH:
        raise ValueError(f"dbt worker socket path is longer than {MAX_SOCKET_PATH} bytes: {path}")


def _connect(path: Path) -> socket.socket | None:
    """A connection to the worker at ``path``, or None when no worker listens there."""
    check_socket_path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    return sock


def _read_line(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


def request(
    path: Path, args: list[str], env: dict[str, str], cwd: Path, *, prepare: bool = False
) -> WorkerReply | None:
    """Run ``dbt <args>`` in the worker listening on ``path``.

    Returns None when no worker listens there (the caller runs dbt itself); raises
    :class:`WorkerError` when the worker took the request and then failed to answer.
    ``prepare`` only parses the project (a warm-up; nothing is built).
    """
    sock = _connect(path)
    if sock is None:
        return None
    with sock:
        payload = {"args": list(args), "env": dict(env), "cwd": str(cwd), "prepare": prepare}
        sock.sendall(json.dumps(payload).encode("utf-8") + b"\n")
        line = _read_line(sock)
    if not line.strip():
        raise WorkerError(f"the dbt worker at {path} closed the connection without an answer")
    reply = json.loads(line)
    if "error" in reply:
        raise WorkerError(f"the dbt worker at {path} refused the request: {reply['error']}")
    return WorkerReply(
        returncode=int(reply["returncode"]),
        stdout=reply.get("stdout", ""),
        stderr=reply.get("stderr", ""),
        parsed=bool(reply.get("parsed")),
        max_rss_kib=int(reply.get("max_rss_kib") or 0),
    )


def is_serving(path: Path) -> bool:
    sock = _connect(path)
    if sock is None:
        return False
    sock.close()
    return True


# --- the server ----------------------------------------------------------------------------------


def project_digest(project_dir: Path) -> str:
    """SHA-256 over the dbt project's files (paths and contents)."""
    digest = hashlib.sha256()
    for part in PROJECT_PARTS:
        root = project_dir / part
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            if path.exists():
                digest.update(path.relative_to(project_dir).as_posix().encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def run_results_path(project_dir: Path, env: Mapping[str, str], target_path: str | None = None) -> Path:
    """Where a dbt command on ``project_dir`` writes run_results.json: its --target-path, else
    DBT_TARGET_PATH, else the project's target/ (a relative one is the project's)."""
    target = target_path or env.get("DBT_TARGET_PATH")
    base = Path(target) if target else Path("target")
    return (base if base.is_absolute() else project_dir / base) / "run_results.json"


def option_value(args: list[str], name: str) -> str | None:
    """The value after ``name`` in a dbt command line (``--selector x`` -> ``x``), else None."""
    for index, arg in enumerate(args[:-1]):
        if arg == name:
            return args[index + 1]
    return None


def _project_dir(args: list[str], env: Mapping[str, str], cwd: str) -> Path:
    """The dbt project a request's command runs on."""
    return Path(option_value(args, "--project-dir") or env.get("DBT_PROJECT_DIR") or cwd)


class _Server:
    """One request at a time (the builds it serves are serialised by the writer pool anyway)."""

    def __init__(self, path: Path, idle_timeout: float | None) -> None:
        self.path = path
        self.idle_timeout = idle_timeout
        # Manifests by parse key, most recently used last. Two, because the pipeline alternates
        # between two environments: full builds on the shadow copy, incremental ones in place.
        self.manifests: OrderedDict[str, Any] = OrderedDict()

    # The parent process parses; it must never hold a DuckDB connection a child would inherit.
    def _manifest_for(self, args: list[str], env: dict[str, str], cwd: str) -> tuple[Any, bool]:
        project_dir = _project_dir(args, env, cwd)
        profiles_dir = option_value(args, "--profiles-dir") or str(project_dir)
        parse_env = {
            k: v
            for k, v in sorted(env.items())
            if k.startswith(PARSE_ENV_PREFIXES) and k not in PARSE_ENV_IGNORED
        }
        key = hashlib.sha256(
            json.dumps([str(project_dir), profiles_dir, project_digest(project_dir), parse_env]).encode()
        ).hexdigest()
        if key in self.manifests:
            self.manifests.move_to_end(key)
            return self.manifests[key], False
        from dbt.cli.main import dbtRunner

        started = time.monotonic()
        with _holding_stop_signals(), _environment(env, cwd):
            result = dbtRunner().invoke(
                ["parse", "--quiet", "--project-dir", str(project_dir), "--profiles-dir", profiles_dir]
            )
        _close_duckdb()
        if not result.success or result.result is None:
            raise RuntimeError(f"dbt parse failed: {result.exception}")
        _say(f"parsed {project_dir} in {time.monotonic() - started:.1f} s")
        self.manifests[key] = result.result
        while len(self.manifests) > CACHED_MANIFESTS:
            self.manifests.popitem(last=False)
        return result.result, True

    def handle(self, conn: socket.socket) -> None:
        try:
            payload = json.loads(_read_line(conn) or b"{}")
            args = [str(a) for a in payload["args"]]
            env = {str(k): str(v) for k, v in payload["env"].items()}
            cwd = str(payload["cwd"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            _answer(conn, {"error": f"malformed request: {exc}"})
            return
        try:
            manifest, parsed = self._manifest_for(args, env, cwd)
        except Exception as exc:  # a project that does not parse: dbt's own exit code for errors
            _answer(conn, {"returncode": 2, "stdout": "", "stderr": f"{exc}\n", "parsed": True})
            return
        if payload.get("prepare"):
            _answer(conn, {"returncode": 0, "stdout": "", "stderr": "", "parsed": parsed})
            return
        reply = _run_in_child(conn, manifest, args, env, cwd)
        if reply is not None:
            reply["parsed"] = parsed
            _answer(conn, reply)

    def serve(self) -> None:
        self.path.unlink(missing_ok=True)  # left by a worker that was killed
        self.path.parent.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # the socket is the owner's only: it runs builds
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        listener.listen(16)
        listener.settimeout(self.idle_timeout)
        _say(f"serving on {self.path} (idle timeout: {self.idle_timeout or 'none'})")
        try:
            while True:
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    _say(f"idle for {self.idle_timeout:g} s; stopping")
                    return
                with conn:
                    conn.settimeout(None)
                    self.handle(conn)
        finally:
            listener.close()
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def _environment(env: dict[str, str], cwd: str) -> Any:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)


def _close_duckdb(*, checkpoint: bool = False) -> None:
    """Drop any DuckDB environment dbt-duckdb kept in this process, closing its database; with
    ``checkpoint``, first write the write-ahead log into the database file (a build's child does,
    because ``os._exit`` skips the finalisers that would)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    environment = DuckDBConnectionManager._ENV
    connection = getattr(environment, "conn", None)
    if checkpoint and connection is not None:
        connection.execute("CHECKPOINT")
    if environment is not None:
        with contextlib.suppress(Exception):
            environment.close()
    DuckDBConnectionManager._ENV = None


def _answer(conn: socket.socket, reply: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the client may be gone; nothing to tell it then
        conn.sendall(json.dumps(reply).encode("utf-8") + b"\n")


def _client_gone(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _run_in_child(
    conn: socket.socket, manifest: Any, args: list[str], env: dict[str, str], cwd: str
) -> dict[str, Any] | None:
    """Fork, run dbt in the child with the parsed manifest, wait; None if the client left."""
    with tempfile.TemporaryDirectory(prefix="scorecard-dbt-worker-") as tmp:
        out_path, err_path = Path(tmp) / "stdout", Path(tmp) / "stderr"
        # The stop signals stay blocked across the fork: in the child until it has its handlers
        # (a SIGINT arriving then is delivered afterwards instead of being lost in Python's fork
        # hooks), in the worker until it is inside the ``try`` that stops the child (a SIGTERM
        # between the fork and the ``try`` would leave the build running without its worker).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        # The parsed manifests stay frozen in the child: its garbage collections skip them
        # (hundreds of thousands of objects) instead of traversing them every time.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _child(manifest, args, env, cwd, out_path, err_path)
        try:
            gc.unfreeze()
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a stop held meanwhile: now
        except BaseException:  # a stop signal right after the fork: the child must not outlive us
            _say(f"worker stopping; stopping build {pid}")
            _stop_child(pid)
            raise
        status, usage = _wait(conn, pid)
        if status is None:
            return None
        return {
            "returncode": os.waitstatus_to_exitcode(status),
            "stdout": out_path.read_text(encoding="utf-8", errors="replace") if out_path.exists() else "",
            "stderr": err_path.read_text(encoding="utf-8", errors="replace") if err_path.exists() else "",
            "max_rss_kib": usage.ru_maxrss,
        }


def _wait(conn: socket.socket, pid: int) -> tuple[int | None, Any]:
    """Wait for the child; stop it if the client disconnects meanwhile (then the status is
    None) or if the worker itself is stopped (SIGTERM) - no build outlives its worker.

    The child's exit wakes the worker at once (its pidfd becomes readable): polling alone had
    sent a build's answer up to 50 ms after the child ended (bench/notes.md, issue #22). The
    client is looked at every CHILD_POLL_SECONDS, as is the child on a kernel without pidfds."""
    try:
        child = [os.pidfd_open(pid)]
    except OSError:  # before Linux 5.3
        child = []
    try:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage
            if _client_gone(conn):
                _say(f"client disconnected; stopping build {pid}")
                return None, _stop_child(pid)
            select.select(child, [], [], CHILD_POLL_SECONDS)
    except BaseException:
        _say(f"worker stopping; stopping build {pid}")
        _stop_child(pid)
        raise
    finally:
        for fd in child:
            os.close(fd)


def _stop_child(pid: int) -> Any:
    """SIGINT (dbt cancels its queries), SIGKILL after the grace period; the child's rusage."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while time.monotonic() < deadline:
        done, _, usage = os.wait4(pid, os.WNOHANG)
        if done:
            _say(f"build {pid} stopped on SIGINT")
            return usage
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, _, usage = os.wait4(pid, 0)
    _say(f"build {pid} killed (SIGKILL) after {STOP_GRACE_SECONDS} s")
    return usage


def _child(manifest: Any, args: list[str], env: dict[str, str], cwd: str, out: Path, err: Path) -> NoReturn:
    code = 2
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        from dbt.cli.main import dbtRunner

        # dbt's artefacts but the run results (which the pipeline reads) are not written: the
        # manifest's dump (~1.8 MB of JSON of a project this worker holds parsed) and the graph's
        # pickle cost every build after a file ~0.3-0.9 s (bench/notes.md, issue #22).
        result = dbtRunner(manifest=manifest).invoke([*args, "--no-write-json"])
        if hasattr(result.result, "write"):
            results = run_results_path(_project_dir(args, env, cwd), env, option_value(args, "--target-path"))
            results.parent.mkdir(parents=True, exist_ok=True)
            result.result.write(str(results))
        # dbt's own exit codes: 0 success, 1 a node failed, 2 dbt itself failed
        code = 0 if result.success else (2 if result.exception is not None else 1)
        if result.exception is not None:
            print(f"dbt failed: {result.exception}", file=sys.stderr)
        # os._exit skips the finalisers that close DuckDB in a dbt process: checkpoint and close
        # here, or the build's last writes stay in the write-ahead log beside the shadow copy.
        _close_duckdb(checkpoint=True)
    except BaseException:
        traceback.print_exc()
        code = 2
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _say(message: str) -> None:
    print(f"[dbt-worker {time.strftime('%H:%M:%S')}] {message}", flush=True)


class _StopSignal:
    """SIGTERM/SIGINT stop the worker at once, except while it parses: dbt's parse catches every
    exception (a stop raised inside it would be reported as a parse error and lost), so a stop
    that arrives then is held until the parse returns."""

    requested = False
    held = False


def _on_stop_signal(signum: int, frame: Any) -> None:
    _StopSignal.requested = True
    if not _StopSignal.held:
        raise SystemExit(0)


@contextlib.contextmanager
def _holding_stop_signals() -> Any:
    _StopSignal.held = True
    try:
        yield
    finally:
        _StopSignal.held = False
    if _StopSignal.requested:
        raise SystemExit(0)


def serve(path: Path, *, idle_timeout: float | None = None) -> None:
    """Serve dbt requests on the Unix socket ``path`` until idle for ``idle_timeout`` seconds
    (never, if None) or until SIGTERM/SIGINT."""

    signal.signal(signal.SIGTERM, _on_stop_signal)
    signal.signal(signal.SIGINT, _on_stop_signal)
    check_socket_path(path)
    if is_serving(path):
        raise RuntimeError(f"a dbt worker is already serving on {path}")
    import dbt.cli.main  # noqa: F401  # the point of the worker: pay for dbt's imports once

    for module in BUILD_IMPORTS:
        importlib.import_module(module)
    _Server(path, idle_timeout).serve()


# --- a worker as a child process (the demo, the benchmarks, tests) ------------------------------


class WorkerProcess:
    """``python -m warehouse.dbt_worker`` as a child in its own session, started and stopped by
    its owner (``scorecard demo``, the benchmarks). In a deployment it is a service of its own
    (docker-compose.yml: ``dbt-worker``)."""

    def __init__(
        self,
        socket_path: Path,
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.env = env
        self.log_path = log_path or socket_path.with_suffix(".log")
        self.idle_timeout = idle_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> float:
        """Start it and wait until it listens; returns the seconds that took."""
        import subprocess

        started = time.monotonic()
        argv = [sys.executable, "-m", "warehouse.dbt_worker", "--socket", str(self.socket_path)]
        if self.idle_timeout:
            argv += ["--idle-timeout", str(self.idle_timeout)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=Path(__file__).resolve().parents[1],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signalled by its owner only, not by the terminal's ^C
            )
        while not is_serving(self.socket_path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dbt worker exited: {self.log_tail()}")
            if time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"the dbt worker did not listen within {timeout:g} s: {self.log_tail()}")
            time.sleep(0.1)
        return time.monotonic() - started

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""

    def resident_mib(self) -> float | None:
        """The worker's own resident memory (dbt and the parsed manifest), between builds."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return None

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM (a build in progress is stopped with it), then SIGKILL after ``timeout``."""
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# --- the command ---------------------------------------------------------------------------------


def default_socket() -> Path:
    from scorecard.core.settings import get_settings

    settings = get_settings()
    return settings.dbt_worker or settings.home / "dbt-worker.sock"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--socket",
        type=Path,
        help="Unix socket to serve on (default: $SCORECARD_DBT_WORKER, "
        "else <SCORECARD_HOME>/dbt-worker.sock)",
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=0, help="stop after this many idle seconds (default 0: never)"
    )


def run(args: argparse.Namespace) -> int:
    path = args.socket or default_socket()
    try:
        serve(path, idle_timeout=args.idle_timeout or None)
    except (RuntimeError, ValueError) as exc:
        print(f"scorecard dbt-worker: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit):
        pass
    # Nothing in this process needs finalising (it never holds a DuckDB connection); exiting at
    # once skips tearing down the parsed manifests, which only slows a stop on a loaded machine.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m warehouse.dbt_worker", description=__doc__.split("\n")[0]
    )
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
