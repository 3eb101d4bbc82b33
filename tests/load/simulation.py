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
import math
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from .stack import ROOT, Gunicorn, PostgresCluster

RETRY_SECONDS = (1, 2, 4, 8, 15)  # the viewer's outbox (offline.js RETRY_MS)
RETRIED_STATUSES = {429, 500, 502, 503, 504}
SUBMISSION = "submit"
WORKLIST = "worklist"
REPORTED_KINDS = (SUBMISSION, WORKLIST, "assignment", "session", "resubmit", "other_tab", "login")


@dataclass(frozen=True)
class LoadConfig:
    readers: int = 50
    seconds: float = 60  # reading work each reader has at the mean think time
    # Mean time a reader looks at a case before scoring it: radiologists take 10-60 s; 3 s has 50
    # readers submit 11-13 reads/s here (the "paced" load; at 1 s the server saturates 2 cores).
    think_seconds: float = 3.0
    # As deploy/gunicorn.conf.py on 2 cores. Sync workers measured slower here: gunicorn 27 closes
    # every connection gracefully, waiting for the client's FIN before the next request.
    workers: int = 2
    worker_class: str = "gthread"
    threads: int = 4
    database_options: str = ""  # query string of DATABASE_URL, e.g. conn_max_age=0 (a connection per request)
    kill_worker: bool = True
    restart_postgres: bool = True
    postgres_down_seconds: float = 2.0
    settle_seconds: float = 3.0  # after a fault is over, still counted inside its window
    resend_share: float = 0.10  # reads sent again with the same key after the acknowledgement
    twin_share: float = 0.05  # reads sent twice at once with the same key
    other_tab_share: float = 0.02  # reads sent again under a new key after the acknowledgement
    worklist_every: int = 10  # the reader goes back to the worklist after this many cases
    random_seed: int = 1
    log_dir: Path | None = None

    @property
    def cases(self) -> int:
        """Cases per reader: each is read once per arm (two arms)."""
        return max(2, round(self.seconds / self.think_seconds / 2))


@dataclass(frozen=True)
class Sample:
    kind: str
    start: float  # seconds since the run started
    seconds: float
    status: int | None  # None: no HTTP answer (connection refused or reset)
    error: str = ""


@dataclass(frozen=True)
class Window:
    name: str
    start: float
    end: float

    def overlaps(self, sample: Sample) -> bool:
        return sample.start < self.end and sample.start + sample.seconds > self.start


@dataclass(frozen=True)
class Ack:
    read_id: int
    rating: float
    idempotency_key: str


@dataclass
class Recorder:
    """Every request's answer and time, the fault windows and the acknowledged reads of a run."""

    t0: float = field(default_factory=time.monotonic)
    reading_started: float = 0.0  # after the logins
    samples: list[Sample] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    acks: dict[int, Ack] = field(default_factory=dict)  # assignment id -> what the server acknowledged
    problems: list[str] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # while reading: gunicorn, PostgreSQL, us

    def now(self) -> float:
        return time.monotonic() - self.t0

    def reading(self) -> list[Sample]:
        return [s for s in self.samples if s.start >= self.reading_started]


@dataclass
class LoadResult:
    config: LoadConfig
    recorder: Recorder
    reading_seconds: float
    assignments: int
    violations: list[str]
    audit: str
    load_average: tuple[tuple[float, ...], tuple[float, ...]]

    @property
    def ok(self) -> bool:
        return not self.violations

    def report(self) -> list[str]:
        samples = self.recorder.reading()
        acknowledged = len(self.recorder.acks)
        lines = [
            f"readers {self.config.readers}, {self.config.cases} cases x 2 arms each, think time "
            f"{self.config.think_seconds:g} s; gunicorn {self.config.workers} x {self.config.worker_class}"
            + (f" ({self.config.threads} threads)" if self.config.worker_class == "gthread" else "")
            + (f"; database options {self.config.database_options}" if self.config.database_options else ""),
            f"load average before {_loads(self.load_average[0])}, after {_loads(self.load_average[1])}",
            f"throughput: {acknowledged} reads acknowledged in {self.reading_seconds:.1f} s = "
            f"{acknowledged / self.reading_seconds:.1f} reads/s; {len(samples) / self.reading_seconds:.1f} "
            f"requests/s",
        ]
        if acknowledged:
            lines.append("CPU per acknowledged read (all requests included): " + ", ".join(
                f"{name} {seconds / acknowledged * 1000:.1f} ms" for name, seconds in self.recorder.cpu_seconds.items()))
        lines += [f"fault window: {w.name}, {w.start:.1f}-{w.end:.1f} s" for w in self.recorder.windows]
        lines.append(f"{'latency ms':<12}{'outside faults: n':>18} {'p50':>6} {'p95':>6} {'p99':>6}"
                     f"{'inside faults: n':>18} {'p50':>6} {'p95':>6} {'p99':>6}")
        for kind in REPORTED_KINDS:
            outside, inside = self.latencies(kind, inside=False), self.latencies(kind, inside=True)
            lines.append(f"{kind:<12}{_percentiles(outside, 18)}{_percentiles(inside, 18)}")
        for kind in REPORTED_KINDS:
            counts = Counter(s.status if s.status is not None else f"no answer ({s.error})"
                             for s in self.recorder.samples if s.kind == kind)
            lines.append(f"status {kind:<11}" + ", ".join(f"{code}: {n}" for code, n in sorted(counts.items(),
                                                                                          key=str)))
        lines.append(f"audit chain: {self.audit}")
        lines.append(f"stored reads checked against {self.assignments} assignments: "
                     + ("no violation" if self.ok else f"{len(self.violations)} violation(s)"))
        lines += [f"  VIOLATION: {v}" for v in self.violations]
        return lines

    def latencies(self, kind: str, *, inside: bool) -> list[float]:
        """Milliseconds of the HTTP answers of ``kind``, inside or outside every fault window."""
        return [s.seconds * 1000 for s in self.recorder.samples
                if s.kind == kind and s.status is not None
                and any(w.overlaps(s) for w in self.recorder.windows) == inside]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _percentiles(values: list[float], width: int) -> str:
    if not values:
        return f"{0:>{width}} {'-':>6} {'-':>6} {'-':>6}"
    return f"{len(values):>{width}} " + " ".join(f"{percentile(values, p):6.0f}" for p in (50, 95, 99))


def _loads(values: tuple[float, ...]) -> str:
    return "/".join(f"{v:.2f}" for v in values)


# ------------------------------------------------------------------ the run

def run_load(config: LoadConfig, progress=lambda message: None) -> LoadResult:
    """Start the stack, seed the study, drive the readers with faults, check what was stored.

    ``progress`` is called with a line at each step.
    """
    loads_before = os.getloadavg()
    with PostgresCluster() as cluster:
        database_url = cluster.create_database("mrmc_load")
        env = server_env(f"{database_url}?{config.database_options}" if config.database_options else database_url,
                         cluster.folder)
        password = secrets.token_urlsafe(12)
        progress(f"PostgreSQL on port {cluster.port}; migrating and seeding {config.readers} readers x "
                 f"{config.cases} cases x 2 arms")
        seeded = _study_command(env, "seed", "--readers", config.readers, "--cases", config.cases,
                                "--password", password)
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


def server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Production settings (DJANGO_DEBUG=0) against the throwaway database."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEID_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
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


class GaveUp(Exception):
    """The run's deadline passed while a request was still being retried."""


class Reader:
    """One simulated reader with their own connections, as a browser has."""

    def __init__(self, url: str, username: str, password: str, recorder: Recorder, deadline: float,
                 rng: random.Random, config: LoadConfig):
        # Behind nginx the app sees HTTPS in X-Forwarded-Proto (deploy/nginx.conf). An idle connection
        # is dropped before gunicorn's keep-alive (2 s) would close it under a request being sent.
        self.http = httpx.AsyncClient(base_url=url, timeout=60, headers={"X-Forwarded-Proto": "https"},
                                      limits=httpx.Limits(keepalive_expiry=1.0))
        self.username = username
        self.password = password
        self.deadline = deadline
        self.rng = rng
        self.config = config
        self.token = ""
        self.recorder = recorder

    async def close(self) -> None:
        await self.http.aclose()

    async def log_in(self) -> None:
        response = await self.call("login", "POST", "/api/v1/auth/token/",
                                   body={"username": self.username, "password": self.password}, auth=False)
        self.token = response.json()["token"]

    async def read_all(self) -> None:
        """Read every open session to the end, going back to the worklist between sessions and breaks."""
        while True:
            worklist = (await self.call(WORKLIST, "GET", "/api/v1/worklist/")).json()
            todo = [s for s in worklist["sessions"] if s["is_open"] and s["read"] < s["assigned"]]
            if not todo:
                return
            session = (await self.call("session", "GET", f"/api/v1/sessions/{todo[0]['id']}/")).json()
            unread = [a for a in sorted(session["assignments"], key=lambda a: a["order"])
                      if not a["read"] and a["id"] not in self.recorder.acks]
            if not unread:
                self.recorder.problems.append(
                    f"{self.username}: session {session['id']} lists acknowledged reads as unread")
                return
            for assignment in unread[: self.config.worklist_every]:
                await self.read_case(assignment["id"])

    async def read_case(self, assignment_id: int) -> None:
        opened_at = datetime.now(UTC)
        await self.call("assignment", "GET", f"/api/v1/assignments/{assignment_id}/")
        await asyncio.sleep(self.config.think_seconds * self.rng.uniform(0.5, 1.5))
        submitted_at = datetime.now(UTC)
        body = {
            "assignment": assignment_id,
            "idempotency_key": str(uuid.uuid4()),
            "rating": round(self.rng.uniform(0, 100), 1),
            "opened_at": opened_at.isoformat(),
            "first_image_at": (opened_at + (submitted_at - opened_at) / 10).isoformat(),
            "submitted_at": submitted_at.isoformat(),
        }
        twins = 2 if self.rng.random() < self.config.twin_share else 1
        answers = await asyncio.gather(*(self.submit(SUBMISSION, body, (200, 201)) for _ in range(twins)))
        reads = {(a["id"], a["rating"], a["idempotency_key"]) for a in answers}
        if len(reads) != 1 or answers[0]["rating"] != body["rating"]:
            self.recorder.problems.append(f"assignment {assignment_id}: acknowledged as {sorted(reads)} for a "
                                          f"rating of {body['rating']}")
        ack = Ack(answers[0]["id"], answers[0]["rating"], answers[0]["idempotency_key"])
        self.recorder.acks[assignment_id] = ack
        if self.rng.random() < self.config.resend_share:
            replay = await self.submit("resubmit", body, (200,))
            if replay["id"] != ack.read_id:
                self.recorder.problems.append(f"assignment {assignment_id}: a replay answered read {replay['id']}, "
                                              f"not {ack.read_id}")
        if self.rng.random() < self.config.other_tab_share:
            other = {**body, "idempotency_key": str(uuid.uuid4()), "rating": 100 - body["rating"]}
            await self.submit("other_tab", other, (409,))

    async def submit(self, kind: str, body: dict, expected: tuple[int, ...]) -> dict:
        return (await self.call(kind, "POST", "/api/v1/reads/", body=body, expected=expected)).json()

    async def call(self, kind: str, method: str, path: str, *, body: dict | None = None,
                   expected: tuple[int, ...] = (200,), auth: bool = True) -> httpx.Response:
        """One API call, retried like the outbox: same body, until an expected or refused answer."""
        for attempt in range(1000):
            headers = {"Authorization": f"Token {self.token}"} if auth else {}
            start = self.recorder.now()
            try:
                response = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as error:
                self.recorder.samples.append(Sample(kind, start, self.recorder.now() - start, None,
                                                    type(error).__name__))
                response = None
            else:
                self.recorder.samples.append(Sample(kind, start, self.recorder.now() - start, response.status_code))
                if response.status_code in expected:
                    return response
                if response.status_code == 401 and auth:
                    await self.log_in()  # an expired token: log in again and resend
                    continue
                if response.status_code not in RETRIED_STATUSES:
                    raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
            if self.recorder.now() > self.deadline:
                raise GaveUp(f"{method} {path} still failing after {attempt + 1} attempts")
            await asyncio.sleep(_retry_delay(attempt, response))
        raise GaveUp(f"{method} {path}: too many attempts")


def _retry_delay(attempt: int, response: httpx.Response | None) -> float:
    delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    return max(delay, float(retry_after)) if retry_after.isdigit() else delay


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


