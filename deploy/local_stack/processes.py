"""Plain processes on loopback: one way to start, find, measure and stop them.

A service runs in a session of its own, so that its process group holds everything it starts
(gunicorn's and Celery's workers, PostgreSQL's backends). Its PID and the kernel's start time of
that PID go to a file, so that another invocation (``deploy/local-stack down``) finds it again
and never signals a stranger that happens to reuse the number. Stopping sends the service's own
stop signal, waits, then SIGKILLs the whole group; nothing of it is left.

Used by the local production stack (:mod:`deploy.local_stack.stack`) and by the load and fault
runs (``tests/load``, ``benchmarks/load_readers.py``): a throwaway PostgreSQL cluster and gunicorn.
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
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_OS_USER = "postgres"  # initdb and postgres refuse to run as root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening_ports(ports) -> set[int]:
    """Those of ``ports`` on which some socket of this machine listens (TCP, IPv4 or IPv6)."""
    wanted, found = set(ports), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            port = int(fields[1].rsplit(":", 1)[1], 16)
            if fields[3] == "0A" and port in wanted:  # 0A: TCP_LISTEN
                found.add(port)
    return found


# ------------------------------------------------------------------ /proc

def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if fields else None  # field 22 of stat: start time in clock ticks after boot


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # a zombie has ended: nobody reaped it yet


def _live_processes() -> dict[int, tuple[int, int]]:
    """Every live process: PID -> (parent PID, process group)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] not in ("Z", "X"):
            found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def _group(pgid: int) -> list[int]:
    return [pid for pid, (_, group) in _live_processes().items() if group == pgid]


def service_processes(leader: int) -> list[int]:
    """Live processes of a service started as a session leader: its process group (children orphaned
    by a dead parent stay in it) and every descendant (PostgreSQL's backends start sessions of their own)."""
    processes = _live_processes()
    found = {pid for pid, (_, group) in processes.items() if group == leader} | ({leader} & processes.keys())
    frontier = {leader}
    while frontier:
        frontier = {pid for pid, (parent, _) in processes.items() if parent in frontier and pid not in found}
        found |= frontier
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, its reaped children and its live children (Linux /proc)."""
    def times(pid: int) -> float:
        fields = _stat(pid)
        # Fields 14-17 of stat: utime, stime, cutime, cstime.
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK") if fields else 0.0

    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return times(pid) + sum(times(int(child)) for child in children)


def memory_bytes(pids) -> int:
    """Proportional set size of these processes together: shared pages (a prefork worker's parent
    and children) are counted once, split between them."""
    total = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) * 1024 for line in rollup.splitlines() if line.startswith("Pss:"))
    return total


# ------------------------------------------------------------------ one service

@dataclass
class ServiceProcess:
    """A long-running program in a session of its own, output to ``log``, PID in ``pidfile``.

    ``pidfile`` None: only this object knows the process (a run inside one Python process).
    ``user``: run as that OS user when started as root (PostgreSQL refuses root).
    """

    name: str
    command: list[str]
    log: Path
    pidfile: Path | None = None
    env: dict[str, str] | None = None
    cwd: Path = ROOT
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def start(self) -> int:
        with open(self.log, "ab") as out:
            self._process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, **as_os_user(self.user),
            )
        if self.pidfile is not None:
            self.pidfile.parent.mkdir(parents=True, exist_ok=True)
            self.pidfile.write_text(f"{self._process.pid} {_start_time(self._process.pid)}\n")
        return self._process.pid

    @property
    def pid(self) -> int | None:
        """The running process's PID, or None when it is not running."""
        if self._process is not None:
            return self._process.pid if self._process.poll() is None else None
        try:
            pid, started = self.pidfile.read_text().split()
        except (OSError, ValueError, AttributeError):
            return None
        return int(pid) if _start_time(int(pid)) == started and _alive(int(pid)) else None

    def exit_status(self) -> int | None:
        """The exit status where this object started the process and it has ended."""
        return self._process.poll() if self._process is not None else None

    def log_tail(self, characters: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> bool:
        """Stop signal, then SIGKILL to all its processes after ``timeout`` s; True if it was running."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, self.stop_signal)
            if not self._wait_gone(pid, timeout):
                _kill(service_processes(pid))
                self._wait_gone(pid, 10)
            _kill(_group(pid))  # children that outlived their parent stay in its process group
        if self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)
        return pid is not None

    def kill(self) -> int | None:
        """SIGKILL the whole service at once, as the kernel's OOM killer or a lost machine would."""
        pid = self.pid
        if pid is not None:
            _kill(service_processes(pid))
            self._wait_gone(pid, 10)
        return pid

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None:
                self._process.poll()  # reap it: a zombie child of ours would look alive to kill(0)
            if not _alive(pid):
                return True
            time.sleep(0.05)
        return False


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def as_os_user(user: str | None) -> dict:
    """Popen arguments that run a child as ``user`` when this process is root; none otherwise."""
    if user is None or os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(user)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def wait_until(ready, service: ServiceProcess, timeout: float, what: str = "answer") -> None:
    """Poll ``ready()`` until true; fail early with the log's tail if the process ends meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.pid is None:
            status = service.exit_status()
            raise RuntimeError(f"{service.name} exited{f' with {status}' if status is not None else ''} "
                               f"(log {service.log}):\n{service.log_tail()}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{service.name} did not {what} within {timeout:.0f} s (log {service.log}):\n"
                       f"{service.log_tail()}")


# ------------------------------------------------------------------ PostgreSQL

def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


def missing_postgres() -> str | None:
    """Why a cluster of our own cannot be made here, or None when it can."""
    if postgres_bin() is None:
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_OS_USER)
        except KeyError:
            return f"running as root and there is no '{POSTGRES_OS_USER}' OS user to run PostgreSQL as"
    return None


class PostgresCluster:
    """A cluster of our own (``initdb``) on a loopback port with trust authentication.

    Without ``folder`` it lives in a temporary folder that :meth:`close` removes (the load runs);
    with one it stays there, made by the first :meth:`init` and started again by later ones.
    """

    def __init__(self, *, folder: Path | None = None, port: int | None = None,
                 settings: dict[str, str] | None = None, pidfile: Path | None = None, log: Path | None = None):
        self.bin = postgres_bin()
        self.port = port or free_port()
        self.temporary = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="mrmc-pg-")) if folder is None else folder
        self.data = self.folder / "data"
        options = [part for key, value in (settings or {}).items() for part in ("-c", f"{key}={value}")]
        self.process = ServiceProcess(
            "PostgreSQL",
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.folder),
             "-c", "listen_addresses=127.0.0.1", *options],
            log=log or self.folder / "server.log", pidfile=pidfile, cwd=self.folder, user=POSTGRES_OS_USER,
            stop_signal=signal.SIGINT,  # fast shutdown: open transactions rolled back, clients disconnected
        )

    def __enter__(self) -> PostgresCluster:
        try:
            self.init()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url(self, database: str, role: str = "postgres") -> str:
        return f"postgres://{role}@127.0.0.1:{self.port}/{database}"

    def init(self) -> bool:
        """``initdb`` unless the cluster exists; True when it was made now."""
        if (self.data / "PG_VERSION").exists():
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(POSTGRES_OS_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        return True

    def start(self, timeout: float = 60) -> None:
        self.process.start()
        wait_until(self.is_ready, self.process, timeout, "accept connections")

    def is_ready(self) -> bool:
        command = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"]
        return subprocess.run(command, capture_output=True).returncode == 0

    def stop(self) -> None:
        self.process.stop(timeout=60)

    def is_running(self) -> bool:
        return self.process.pid is not None

    def cpu_seconds(self) -> float:
        """CPU used by the server since it started: the postmaster and its backends, ended ones too."""
        return cpu_seconds(self.process.pid)

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def has_database(self, name: str) -> bool:
        listed = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-lqtA")
        return name in {line.split("|", 1)[0] for line in listed.splitlines()}

    def close(self) -> None:
        self.stop()
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args, env: dict[str, str] | None = None) -> str:
        result = subprocess.run([str(self.bin / program), *map(str, args)], capture_output=True, text=True,
                                cwd=self.folder, env=env, **as_os_user(POSTGRES_OS_USER))
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                               f"{self.process.log_tail(2000)}")
        return result.stdout


# ------------------------------------------------------------------ Redis

def redis_command(*, port: int, folder: Path) -> list[str]:
    """Redis on a loopback port as a Celery broker: append-only file in ``folder``, and a full memory
    refuses new tasks instead of evicting queued ones."""
    return ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder), "--appendonly", "yes",
            "--save", "", "--maxmemory-policy", "noeviction", "--logfile", ""]


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throwaway Redis broker in a temporary folder (load runs), removed when the ``with`` block ends."""

    def __init__(self):
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="mrmc-redis-"))
        self.process = ServiceProcess("redis", redis_command(port=self.port, folder=self.folder),
                                      log=self.folder / "redis.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisServer:
        self.process.start()
        try:
            wait_until(lambda: redis_answers(self.port), self.process, 30)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.process.stop(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


# ------------------------------------------------------------------ gunicorn

def gunicorn_command(*, port: int, workers: int, worker_class: str = "gthread", threads: int = 4,
                     quiet: bool = False) -> list[str]:
    """gunicorn with the production configuration (deploy/gunicorn.conf.py) on this address and workers."""
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "deploy/gunicorn.conf.py",
               "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", worker_class,
               "--threads", str(threads)]
    if quiet:  # load runs: no access log, a short timeout, warnings only
        command += ["--access-logfile", os.devnull, "--timeout", "30", "--graceful-timeout", "5",
                    "--log-level", "warning"]
    return command


def answers_ok(url: str, timeout: float = 5, context=None) -> bool:
    """Whether ``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return response.status == 200
    except OSError:
        return False


class Gunicorn:
    """gunicorn serving ``config.wsgi`` on a free loopback port with the given environment (load runs)."""

    def __init__(self, *, env: dict[str, str], workers: int, worker_class: str = "sync", threads: int = 1,
                 log_path: Path | None = None):
        self.workers = workers
        self.port = free_port()
        self.log_path = log_path
        self.process = ServiceProcess(
            "gunicorn", gunicorn_command(port=self.port, workers=workers, worker_class=worker_class,
                                         threads=threads, quiet=True),
            log=log_path or Path(os.devnull), env={**os.environ, **env},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Gunicorn:
        self.process.start()
        try:
            # /livez: the process answers. /healthz would also want Celery workers, which a load run has none of.
            wait_until(lambda: len(self.worker_pids()) == self.workers and answers_ok(f"{self.url}/livez"),
                       self.process, 60)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """CPU used by the master and its workers, killed ones included."""
        return cpu_seconds(self.process.pid)

    def worker_pids(self) -> list[int]:
        """The master's child processes (Linux /proc)."""
        pid = self.process.pid
        try:
            return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
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
        self.process.stop(timeout=15)
