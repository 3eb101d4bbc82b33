"""Load and fault run: simulated readers against gunicorn + PostgreSQL (run: python benchmarks/load_readers.py).

Starts a throwaway PostgreSQL cluster (initdb in a temporary folder, a free loopback port) and
gunicorn with production settings (DJANGO_DEBUG=0), seeds a study of 50 readers x 2 arms through
the services, and lets every reader read their whole schedule as the reading workstation does,
with think time, retries of the same idempotency key and deliberate duplicate submissions. A
third of the way in a gunicorn worker is killed (SIGKILL); at 60 % PostgreSQL is stopped and
started again. Prints throughput and p50/p95/p99 latencies of read submission and worklist
inside and outside the fault windows, the status codes, and then checks the stored reads:
exactly one per reader x case x arm, every acknowledged read present with its score, no 5xx
but 503, the audit chain intact (``manage.py verify_audit``). Exits 1 on any violation.

Goal (issue 11): p95 submission under 100 ms at 50 readers outside the fault windows.
Needs the PostgreSQL server binaries (/usr/lib/postgresql/*/bin); as root they run as ``postgres``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from deploy.local_stack.processes import missing_postgres  # noqa: E402
from tests.load.recording import SUBMISSION, LoadConfig, percentile  # noqa: E402
from tests.load.simulation import run_load  # noqa: E402

GOAL_P95_MS = 100


def main() -> int:
    defaults = LoadConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=defaults.readers)
    parser.add_argument("--seconds", type=float, default=defaults.seconds,
                        help="reading work per reader at the mean think time (sets the number of cases)")
    parser.add_argument("--think", type=float, default=defaults.think_seconds, help="mean think time per case, s")
    parser.add_argument("--workers", type=int, default=defaults.workers, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default=defaults.worker_class, choices=("sync", "gthread"))
    parser.add_argument("--threads", type=int, default=defaults.threads, help="threads per gthread worker")
    parser.add_argument("--database-options", default=defaults.database_options,
                        help="DATABASE_URL query string, e.g. conn_max_age=0 (a connection per request)")
    parser.add_argument("--no-faults", action="store_true", help="neither kill a worker nor restart PostgreSQL")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if problem := missing_postgres():
        sys.exit(problem)
    # A stop by timeout or kill still runs the clean-up: gunicorn and the cluster go, the folder too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"  [{time.monotonic() - started:6.1f} s] {message}", flush=True)
    failed = False
    for number in range(1, args.runs + 1):
        log_dir = Path(tempfile.mkdtemp(prefix="mrmc-load-"))
        config = LoadConfig(readers=args.readers, seconds=args.seconds, think_seconds=args.think,
                            workers=args.workers, worker_class=args.worker_class, threads=args.threads,
                            database_options=args.database_options,
                            kill_worker=not args.no_faults, restart_postgres=not args.no_faults,
                            random_seed=number, log_dir=log_dir)
        print(f"run {number} of {args.runs} (gunicorn log: {log_dir / 'gunicorn.log'})", flush=True)
        result = run_load(config, progress)
        print("\n".join(f"  {line}" for line in result.report()))
        p95 = percentile(result.latencies(SUBMISSION, inside=False) or [float("nan")], 95)
        print(f"  p95 submission outside faults {p95:.0f} ms (goal < {GOAL_P95_MS} ms): "
              f"{'met' if p95 < GOAL_P95_MS else 'NOT met'}", flush=True)
        failed |= not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
