"""A throwaway PostgreSQL cluster and a gunicorn server for load and fault runs.

Plain processes on loopback: the cluster lives in a temporary folder on a free port (never the
system server on :5432), gunicorn serves ``config.wsgi`` against it, and both are stopped and the
folder removed when their ``with`` blocks end. Faults are injected through them: a worker killed
with SIGKILL (the gunicorn master starts another), PostgreSQL stopped and started again.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_OS_USER = "postgres"  # initdb and postgres refuse to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its reaped children and its live children (Linux /proc)."""
    def times(pid: int, fields: slice) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone meanwhile
            return 0.0
        return sum(int(v) for v in stat.rsplit(")", 1)[1].split()[fields]) / os.sysconf("SC_CLK_TCK")

    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    # Fields 14-17 of stat: utime, stime, cutime, cstime (11-14 after the command name).
    return times(pid, slice(11, 15)) + sum(times(int(child), slice(11, 15)) for child in children)


def missing_postgres() -> str | None:
    """Why a throwaway cluster cannot be made here, or None when it can."""
    if postgres_bin() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            return f"running as root and there is no '{POSTGRES_OS_USER}' OS user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


class PostgresCluster:
    """``initdb`` in a temporary folder; the server on a free loopback port with trust authentication."""

    def __init__(self, *, port: int | None = None, settings: dict[str, str] | None = None):
        self.bin = postgres_bin()
        self.port = port or free_port()
        self.settings = settings or {}
        self.folder = Path(tempfile.mkdtemp(prefix="mrmc-load-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"

    def __enter__(self) -> PostgresCluster:
        try:
            if os.geteuid() == 0:
                account = pwd.getpwnam(POSTGRES_OS_USER)
                os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C.UTF-8", "--no-sync")
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.folder}", "-c listen_addresses=127.0.0.1",
                   *(f"-c {key}={value}" for key, value in self.settings.items())]
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", " ".join(options), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back and every client is disconnected."""
        self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "60", "stop")

    def cpu_seconds(self) -> float:
        """CPU used by the server since it started: the postmaster and its backends, ended ones too."""
        return cpu_seconds(int((self.data / "postmaster.pid").read_text().split()[0]))

    def is_running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        result = subprocess.run(self._command("pg_ctl", "-D", self.data, "status"), capture_output=True)
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def close(self) -> None:
        if self.is_running():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _command(self, program: str, *args) -> list[str]:
        command = [str(self.bin / program), *map(str, args)]
        return ["runuser", "-u", POSTGRES_OS_USER, "--", *command] if os.geteuid() == 0 else command

    def _run(self, program: str, *args) -> None:
        result = subprocess.run(self._command(program, *args), capture_output=True, text=True, cwd=self.folder)
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log}")


class Gunicorn:
    """gunicorn serving ``config.wsgi`` on a free loopback port with the given environment."""

    def __init__(self, *, env: dict[str, str], workers: int, worker_class: str = "sync", threads: int = 1,
                 log_path: Path | None = None):
        self.env = {**os.environ, **env}
        self.workers = workers
        self.worker_class = worker_class
        self.threads = threads
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            # The production configuration, with this run's address, workers and quieter logs.
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "deploy/gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--access-logfile", os.devnull,
             "--workers", str(self.workers), "--worker-class", self.worker_class, "--threads", str(self.threads),
             # gunicorn 27 opens a control socket under ~/.gunicorn by default; runs must not share one.
             "--no-control-socket", "--timeout", "30", "--graceful-timeout", "5", "--log-level", "warning"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode} (log: {self.log_path})")
            if len(self.worker_pids()) == self.workers and self._healthy():
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s (log: {self.log_path})")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """CPU used by the master and its workers, killed ones included."""
        return cpu_seconds(self.process.pid)

    def worker_pids(self) -> list[int]:
        """The master's child processes (Linux /proc)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def kill_worker(self) -> int:
        """SIGKILL one worker, as the kernel's OOM killer or a crash would; returns its pid."""
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_for_replacement(self, killed: int, timeout: float = 30) -> None:
        """Until the master has reaped ``killed`` and runs the full number of workers again."""
        deadline = time.monotonic() + timeout
        while killed in (pids := self.worker_pids()) or len(pids) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn has {len(pids)} of {self.workers} workers")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
