"""Benchmark of an analysis run end to end (run: DATABASE_URL=postgres://... python benchmarks/bench_analysis.py).

Builds a locked study of 20 readers x 2 arms x 1,000 cases (40,000 simulated reads) in a
throwaway test database, then times what a statistician waits for: freezing the reads
snapshot, the analysis with every supporting section (the job), and rendering the HTML
and PDF reports. Goal (issue 6): under 30 s from reads in PostgreSQL to finished report.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

GOAL_SECONDS = 30.0


def build_study(n_readers: int, n_cases: int):
    from studies.models import Role, User
    from studies.services.demo_analysis import create_read_demo_study

    coordinator = User.objects.create(username="bench-coordinator", role=Role.COORDINATOR)
    statistician = User.objects.create(username="bench-statistician", role=Role.STATISTICIAN)
    readers = tuple(f"bench-reader{i + 1}" for i in range(n_readers))
    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=n_cases, seed=7,
                                   readers=readers, title="Benchmark study")
    return study, statistician


def timed(label: str, function, timings: dict):
    start = time.perf_counter()
    value = function()
    timings[label] = time.perf_counter() - start
    print(f"  {label:<38} {timings[label]:7.2f} s", flush=True)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cases", type=int, default=1000)
    args = parser.parse_args()
    from studies import reports
    from studies.models import Read
    from studies.services import analysis

    print(f"database: {connection.vendor}; building {args.readers} readers x 2 arms x {args.cases} cases ...",
          flush=True)
    test_database = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        start = time.perf_counter()
        study, statistician = build_study(args.readers, args.cases)
        print(f"  set-up (not timed): {Read.objects.filter(case__study=study).count()} reads in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        timings: dict[str, float] = {}
        run = timed("snapshot + analysis run (job)", lambda: analysis.analyze_now(
            actor=statistician, study=study, options={}), timings)
        assert run.status == "succeeded", run.error
        html = timed("HTML report", lambda: reports.render_html(run), timings)
        pdf = timed("PDF report", lambda: reports.render_pdf(run), timings)
        total = sum(timings.values())
        print(f"  {'total, reads to finished report':<38} {total:7.2f} s  (goal < {GOAL_SECONDS:g} s; "
              f"HTML {len(html) / 1e6:.1f} MB, PDF {len(pdf) / 1e6:.1f} MB)")
        return 0 if total < GOAL_SECONDS else 1
    finally:
        connection.creation.destroy_test_db(test_database, verbosity=0)


if __name__ == "__main__":
    sys.exit(main())
