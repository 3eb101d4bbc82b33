"""Simulated readers against gunicorn + PostgreSQL, with faults mid-run, and the checks after.

Each reader does what the reading workstation does (viewer_static/src/main.js, offline.js): logs
in for an API token, opens the worklist, opens an open session and, case after case, the
assignment; scores it after a think time and submits the read with a fresh idempotency key. A
submission that gets no answer (connection reset), a 502/503 or any other 5xx is sent again with
the same key, as the outbox does, until the server acknowledges it. Some reads are deliberately
sent twice: again after the acknowledgement (a replay), twice at once (two requests racing), and
once more under a new key (a second browser tab), which the server must refuse with 409.

Mid-run a gunicorn worker is killed with SIGKILL and PostgreSQL is stopped and started again.
Afterwards the stored reads are compared with what the server acknowledged: exactly one read
per reader x case x arm, each acknowledged read stored with its acknowledged score, and no 5xx
other than 503. Latencies are reported apart inside and outside the fault windows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from deploy.local_stack.processes import ROOT, Gunicorn, PostgresCluster, RedisServer

from .reader import Reader
from .recording import LoadConfig, LoadResult, Recorder, Window

# ------------------------------------------------------------------ the run

def run_load(config: LoadConfig, progress=lambda message: None) -> LoadResult:
    """Start the stack, seed the study, drive the readers with faults, check what was stored.

    ``progress`` is called with a line at each step.
    """
    loads_before = os.getloadavg()
    with PostgresCluster() as cluster, RedisServer() as broker:
        database_url = cluster.create_database("mrmc_load")
        env = server_env(f"{database_url}?{config.database_options}" if config.database_options else database_url,
                         cluster.folder, broker.url)
        password = secrets.token_urlsafe(12)
        progress(f"PostgreSQL on port {cluster.port}; migrating and seeding {config.readers} readers x "
                 f"{config.cases} cases x 2 arms")
        # "--password=": a token may begin with "-", which argparse would otherwise read as an option.
        seeded = _study_command(env, "seed", "--readers", config.readers, "--cases", config.cases,
                                f"--password={password}")
        log = (config.log_dir / "gunicorn.log") if config.log_dir else None
        with Gunicorn(env=env, workers=config.workers, worker_class=config.worker_class,
                      threads=config.threads, log_path=log) as server:
            progress(f"gunicorn on port {server.port}; readers log in and read")
            recorder = _run_in_own_loop(_drive(server, cluster, seeded["readers"], password, config, progress))
            reading_seconds = recorder.now() - recorder.reading_started
        progress("checking the stored reads and the audit trail")
        stored = _study_command(env, "export")
        audit, audit_problem = verify_audit(env)
    violations = check(recorder, stored, seeded["assignments"]) + ([audit_problem] if audit_problem else [])
    return LoadResult(config, recorder, reading_seconds, seeded["assignments"], violations, audit,
                      (loads_before, os.getloadavg()))


def server_env(database_url: str, data_dir: Path, broker_url: str) -> dict[str, str]:
    """Production settings (DJANGO_DEBUG=0) against the throwaway database and broker."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEID_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "MRMC_DATA_DIR": str(data_dir),
        "LOG_LEVEL": "WARNING",
    }


def _study_command(env: dict, *args) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.load.study", *map(str, args)], cwd=ROOT,
                            env={**os.environ, **env}, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"tests.load.study {args[0]} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout)


def verify_audit(env: dict) -> tuple[str, str | None]:
    """``manage.py verify_audit`` where the project has it: (what to print, a violation or None)."""
    result = subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env={**os.environ, **env},
                            capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 and "Unknown command" in output:
        return "not available (no manage.py verify_audit)", None
    if result.returncode != 0:
        return "BROKEN", f"verify_audit failed: {output[-1000:]}"
    return f"intact ({output.splitlines()[-1] if output else 'verify_audit passed'})", None


def _run_in_own_loop(coroutine):
    """Run ``coroutine`` on a thread of its own: the calling thread may already run an event loop
    (Playwright's, in a test session that drove a browser), where asyncio.run is refused."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _drive(server: Gunicorn, cluster: PostgresCluster, usernames: list[str], password: str,
                 config: LoadConfig, progress) -> Recorder:
    rng = random.Random(config.random_seed)
    recorder = Recorder()
    deadline = config.seconds * 4 + 120
    readers = [Reader(server.url, username, password, recorder, deadline, random.Random(rng.random()), config)
               for username in usernames]
    try:
        # Every reader logs in first, a few at a time: the timed run is reading, not a login storm
        # (password hashing is slow by design).
        gate = asyncio.Semaphore(config.workers)

        async def log_in(reader: Reader) -> None:
            async with gate:
                await reader.log_in()

        await asyncio.gather(*(log_in(reader) for reader in readers))
        recorder.reading_started = recorder.now()
        progress(f"logged in after {recorder.reading_started:.1f} s; reading")
        cpu = CpuMeter(server, cluster)
        faults = asyncio.create_task(_inject_faults(server, cluster, recorder, config, cpu, progress))
        ticker = asyncio.create_task(_report_progress(recorder, len(readers) * config.cases * 2, progress))
        outcomes = await asyncio.gather(*(reader.read_all() for reader in readers), return_exceptions=True)
        ticker.cancel()
        await faults
        recorder.cpu_seconds = cpu.totals()
    finally:
        await asyncio.gather(*(reader.close() for reader in readers))
    for reader, outcome in zip(readers, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            recorder.problems.append(f"{reader.username} stopped: {outcome!r}")
    return recorder


async def _report_progress(recorder: Recorder, scheduled: int, progress, every: float = 10) -> None:
    while True:
        await asyncio.sleep(every)
        recent = [s for s in recorder.samples if s.start > recorder.now() - every]
        progress(f"{len(recorder.acks)} of {scheduled} reads acknowledged; last {every:g} s: {len(recent)} "
                 f"requests, {sum(s.status is None or s.status >= 500 for s in recent)} failed")


async def _inject_faults(server: Gunicorn, cluster: PostgresCluster, recorder: Recorder, config: LoadConfig,
                         cpu: CpuMeter, progress):
    if config.kill_worker:
        await asyncio.sleep(max(0.0, recorder.reading_started + 0.3 * config.seconds - recorder.now()))
        start = recorder.now()
        killed = server.kill_worker()
        await asyncio.to_thread(server.wait_for_replacement, killed)
        recorder.windows.append(Window(f"gunicorn worker {killed} killed", start,
                                       recorder.now() + config.settle_seconds))
        progress(f"killed gunicorn worker {killed} at {start:.1f} s, replaced at {recorder.now():.1f} s")
    if config.restart_postgres:
        await asyncio.sleep(max(0.0, recorder.reading_started + 0.6 * config.seconds - recorder.now()))
        start = recorder.now()
        cpu.database_stopping()
        await asyncio.to_thread(cluster.stop)
        stopped = recorder.now()
        await asyncio.sleep(config.postgres_down_seconds)
        await asyncio.to_thread(cluster.start)
        cpu.database_started()
        recorder.windows.append(Window("PostgreSQL stopped and started", start,
                                       recorder.now() + config.settle_seconds))
        progress(f"PostgreSQL stopping at {start:.1f} s, stopped at {stopped:.1f} s, started at "
                 f"{recorder.now():.1f} s")


class CpuMeter:
    """CPU seconds used from now on by gunicorn, PostgreSQL (across a restart) and this process."""

    def __init__(self, server: Gunicorn, cluster: PostgresCluster):
        self.server = server
        self.cluster = cluster
        self.server_start = server.cpu_seconds()
        self.database_start = cluster.cpu_seconds()
        self.database_before = 0.0  # used by the server that was stopped
        self.own_start = time.process_time()

    def database_stopping(self) -> None:
        self.database_before += self.cluster.cpu_seconds() - self.database_start

    def database_started(self) -> None:
        self.database_start = self.cluster.cpu_seconds()

    def totals(self) -> dict[str, float]:
        return {
            "gunicorn": self.server.cpu_seconds() - self.server_start,
            "PostgreSQL": self.database_before + self.cluster.cpu_seconds() - self.database_start,
            "load generator": time.process_time() - self.own_start,
        }


# ------------------------------------------------------------------ checks

def check(recorder: Recorder, stored: dict, expected_assignments: int) -> list[str]:
    """What must hold after the run, each broken rule as one line."""
    violations = list(recorder.problems)
    assignments = {a["id"]: a for a in stored["assignments"]}
    if len(assignments) != expected_assignments:
        violations.append(f"{len(assignments)} assignments stored, {expected_assignments} scheduled")
    reads_of = defaultdict(list)
    per_cell = Counter()
    for read in stored["reads"]:
        reads_of[read["assignment"]].append(read)
        per_cell[(read["reader"], read["case"], read["arm"])] += 1
    unread = [a for a in assignments if not reads_of[a]]
    if unread:
        violations.append(f"{len(unread)} assignments have no read, e.g. {unread[:5]}")
    doubled = [cell for cell, n in per_cell.items() if n > 1]
    if doubled or any(len(reads) > 1 for reads in reads_of.values()):
        violations.append(f"{len(doubled)} reader x case x arm cells hold more than one read, e.g. {doubled[:5]}")
    lost = [
        assignment for assignment, ack in recorder.acks.items()
        if [(r["id"], r["rating"], r["idempotency_key"]) for r in reads_of[assignment]]
        != [(ack.read_id, ack.rating, ack.idempotency_key)]
    ]
    if lost:
        violations.append(f"{len(lost)} acknowledged reads are missing or changed, e.g. assignments {lost[:5]}")
    server_errors = Counter(s.status for s in recorder.samples if s.status and s.status >= 500 and s.status != 503)
    if server_errors:
        violations.append(f"5xx other than 503: {dict(server_errors)}")
    unanswered = [s for s in recorder.samples if s.status is None and not any(w.overlaps(s) for w in recorder.windows)]
    if unanswered:
        violations.append(f"{len(unanswered)} requests got no answer outside the fault windows, e.g. "
                          f"{unanswered[0].kind} at {unanswered[0].start:.1f} s ({unanswered[0].error})")
    return violations
