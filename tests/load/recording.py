"""What a load run records (every request's answer and time, the fault windows, the acknowledged
reads) and the report made of it: throughput, CPU per read, latency percentiles in and outside
the fault windows, statuses, and the violations found afterwards."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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

