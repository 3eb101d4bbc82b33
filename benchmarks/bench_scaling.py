"""Scaling benchmark (issue 14): analysis work on 1 and 2 Celery worker processes, reads on 1, 2 and 4 gunicorn workers.

Run: python benchmarks/bench_scaling.py  [--dir STATE_FOLDER of a running deploy/local-stack] [--skip-web]

Workers. Brings up deploy/local-stack in a temporary folder with one process per Celery worker
(``--concurrency=1``), or uses a running stack (``--dir``; its workers keep their own
concurrency). Seeds a locked, fully read study (``create_read_demo_study`` through ``manage.py
shell`` with the stack's environment) and times, through nginx, from the request to the finished
job: a bootstrap analysis run (2,000 resamples, OR covariance) and a simulated power analysis of
2,000 studies with a finished run as the pilot. First with both workers, then with worker2 stopped;
prints the wall times, the speedup, the ideal (twice as fast) and checks that both configurations
give the same results, bit for bit (the same seeds). Then ``deploy/local-stack status`` (memory).

Web. The load run of benchmarks/load_readers.py (tests/load: a throwaway PostgreSQL, simulated
readers, no faults) at shorter and shorter think times, each with 1, 2 and 4 gunicorn workers
(gthread, 4 threads, as deploy/gunicorn.conf.py) in turn, until p95 read submission reaches 100 ms
(twice: the machine may be shared); prints the highest reads/s with p95 below 100 ms and the CPU
time per read, which sizes a deployment whatever the load of this machine.

The load average is printed with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from deploy.local_stack.processes import cpu_seconds, missing_postgres  # noqa: E402
from deploy.local_stack.stack import WORKERS, Stack  # noqa: E402
from tests.load.recording import SUBMISSION, LoadConfig, percentile  # noqa: E402
from tests.load.simulation import run_load  # noqa: E402

GOAL_P95_MS = 100
SEED_STUDY = """
import json, os
from studies.models import Role, User
from studies.services.demo_analysis import create_read_demo_study
accounts = {}
for username, role in (("bench-coordinator", Role.COORDINATOR), ("bench-statistician", Role.STATISTICIAN)):
    user = User.objects.filter(username=username).first() or User(username=username)
    user.role, user.is_staff = role, True
    user.set_password(os.environ["BENCH_PASSWORD"])
    user.save()
    accounts[role] = user
readers = tuple(f"bench-reader{number:03d}" for number in range(1, int(os.environ["BENCH_READERS"]) + 1))
study = create_read_demo_study(coordinator=accounts[Role.COORDINATOR], statistician=accounts[Role.STATISTICIAN],
                               n_cases=int(os.environ["BENCH_CASES"]), seed=11, readers=readers,
                               title="Scaling benchmark " + os.environ["BENCH_RUN"])
print("BENCH " + json.dumps({"study": study.pk}))
"""


def loads() -> str:
    return "/".join(f"{load:.2f}" for load in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------ workers

class Api:
    """The stack's API through nginx, as the statistician."""

    def __init__(self, stack: Stack, username: str, password: str):
        self.url = f"{stack.url}/api/v1"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(stack.ca_file)
        token = self.call("POST", "/auth/token/", json={"username": username, "password": password})["token"]
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, self.url + path, timeout=60, **kwargs)
        if not response.ok:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def until_done(self, path: str, status_key: str, timeout: float = 1800) -> tuple[dict, float]:
        """Poll ``path`` until its job has ended; (the last answer, seconds since the poll began)."""
        started = time.monotonic()
        while (answer := self.call("GET", path))[status_key] in ("queued", "running"):
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"{path} still {answer[status_key]} after {timeout:.0f} s")
            time.sleep(0.1)
        return answer, time.monotonic() - started


@dataclass
class Timed:
    seconds: float
    result: dict
    id: int
    cpu_seconds: float = 0.0  # of the Celery workers while it ran: how many cores it kept busy


def on_workers(stack: Stack, job: Callable[[], Timed]) -> Timed:
    """``job()``, with the CPU time the stack's Celery workers spent meanwhile."""
    def workers_cpu() -> float:
        return sum(cpu_seconds(pid) for name in WORKERS if (pid := stack.service(name).process.pid))

    before = workers_cpu()
    timed = job()
    timed.cpu_seconds = workers_cpu() - before
    return timed


def analysis_run(api: Api, study: int, options: dict) -> Timed:
    started = time.monotonic()
    run = api.call("POST", f"/studies/{study}/analysis-runs/", json={"options": options})
    run, _ = api.until_done(f"/analysis-runs/{run['id']}/", "job_status")
    if run["status"] != "succeeded":
        raise RuntimeError(f"analysis run {run['id']} {run['status']}: {run['error']}")
    return Timed(time.monotonic() - started, run["results"], run["id"])


def bootstrap_run(api: Api, study: int, resamples: int, seed: int) -> Timed:
    return analysis_run(api, study, {"cov": "bootstrap", "n_bootstrap": resamples, "seed": seed})


def power_job(api: Api, pilot: int, plan: dict, studies: int, seed: int) -> Timed:
    started = time.monotonic()
    job = api.call("POST", f"/analysis-runs/{pilot}/power-simulations/",
                   json={"plan": plan, "studies": studies, "seed": seed})
    job, _ = api.until_done(f"/jobs/{job['id']}/", "status")
    if job["status"] != "succeeded":
        raise RuntimeError(f"power job {job['id']} {job['status']}: {job['message']}")
    return Timed(time.monotonic() - started, job["result"], job["id"])


@contextmanager
def benchmark_stack(folder: Path | None, say):
    """A running stack: ``folder``'s, left as found, or a new one with one process per worker, removed after."""
    if folder is not None:
        yield Stack(folder)
        return
    stack = Stack(Path(tempfile.mkdtemp(prefix="mrmc-bench-stack-")))
    stack.state["worker_concurrency"] = 1
    try:
        stack.up(say=lambda line: None)
        say(f"stack up in {stack.folder} (each Celery worker one process)")
        yield stack
    finally:
        stack.down(say=lambda line: None)
        shutil.rmtree(stack.folder, ignore_errors=True)


def bench_workers(args, say) -> None:
    with benchmark_stack(args.dir, say) as stack:
        password = secrets.token_urlsafe(18)
        began = time.monotonic()
        output = stack.manage("shell", "-c", SEED_STUDY, BENCH_PASSWORD=password, BENCH_READERS=str(args.readers),
                              BENCH_CASES=str(args.cases), BENCH_RUN=time.strftime("%Y%m%d-%H%M%S"))
        study = json.loads(next(line for line in output.splitlines() if line.startswith("BENCH "))[6:])["study"]
        say(f"study {study}: {args.readers} readers x 2 arms x {args.cases} cases, every read simulated "
            f"({time.monotonic() - began:.0f} s)")
        api = Api(stack, "bench-statistician", password)
        pilot = analysis_run(api, study, {})  # the power analysis's pilot: the default (jackknife) analysis
        pilot_id = pilot.id
        plan = {"design": "fully_crossed", "effect": 0.05, "readers": [args.power_readers],
                "cases": [args.power_cases]}
        # Untimed: every worker process imports and warms up what the timed jobs use.
        bootstrap_run(api, study, resamples=1024, seed=1)
        power_job(api, pilot_id, plan, studies=500, seed=1)
        say(f"warm-up done; pilot run {pilot_id} (the analysis without a bootstrap: {pilot.seconds:.1f} s); "
            f"plan {plan}; load average {loads()}")

        timings: dict[str, dict[int, list[Timed]]] = {"bootstrap": {}, "power": {}}
        worker2 = stack.service("worker2")
        try:
            for processes in (2, 1):
                if processes == 1:
                    worker2.process.stop(timeout=60)
                for _ in range(args.repeats):
                    timings["bootstrap"].setdefault(processes, []).append(
                        on_workers(stack, lambda: bootstrap_run(api, study, args.resamples, seed=7)))
                    timings["power"].setdefault(processes, []).append(
                        on_workers(stack, lambda: power_job(api, pilot_id, plan, args.studies, seed=7)))
                say(f"{processes} worker process(es) done; load average {loads()}")
        finally:
            if args.dir is not None and worker2.process.pid is None:
                stack.start_service("worker2", say=lambda line: None)
        report_workers(timings, args, stack, say)
        stack.status(say=lambda line: say(f"  {line}"))


def report_workers(timings: dict, args, stack: Stack, say) -> None:
    say(f"\nCelery workers ({stack.worker_concurrency} process(es) each): wall time from request to finished job, "
        f"best of {args.repeats}, and the workers' CPU time meanwhile")
    say(f"{'job':<40} {'1 worker':>17} {'2 workers':>17} {'speedup':>8} {'ideal':>14}  results")
    labels = {"bootstrap": f"bootstrap analysis, {args.resamples} resamples",
              "power": f"simulated power, {args.studies} studies"}
    for kind, label in labels.items():
        one, two = (min(timings[kind][n], key=lambda timed: timed.seconds) for n in (1, 2))
        results = {json.dumps(timed.result, sort_keys=True) for n in (1, 2) for timed in timings[kind][n]}
        identical = "identical" if len(results) == 1 else "DIFFER"
        ideal = f"2x, {one.seconds / 2:.1f} s"
        say(f"{label:<40} {one.seconds:6.1f} s ({one.cpu_seconds:4.1f} CPU) {two.seconds:6.1f} s "
            f"({two.cpu_seconds:4.1f} CPU) {one.seconds / two.seconds:7.2f}x {ideal:>14}  {identical}")
        if identical != "identical":
            raise SystemExit(f"{label}: the results differ between the configurations (same seed)")


# ------------------------------------------------------------------ web

@dataclass
class WebStep:
    rate: float  # reads acknowledged per second of reading
    p50: float
    p95: float
    p99: float
    cpu_ms: dict[str, float]  # CPU per acknowledged read: gunicorn, PostgreSQL, the load generator
    loads: str


def web_step(args, workers: int, think: float, logs: Path) -> WebStep:
    config = LoadConfig(readers=args.web_readers, seconds=args.web_seconds, think_seconds=think, workers=workers,
                        kill_worker=False, restart_postgres=False,
                        log_dir=Path(tempfile.mkdtemp(prefix=f"{workers}-workers-{think:g}-s-", dir=logs)))
    result = run_load(config)
    if not result.ok:
        raise SystemExit("\n".join(result.report()))
    acknowledged = len(result.recorder.acks)
    p50, p95, p99 = (percentile(result.latencies(SUBMISSION, inside=False), p) for p in (50, 95, 99))
    return WebStep(acknowledged / result.reading_seconds, p50, p95, p99,
                   {name: seconds / acknowledged * 1000 for name, seconds in result.recorder.cpu_seconds.items()},
                   " -> ".join("/".join(f"{v:.2f}" for v in loads) for loads in result.load_average))


def bench_web(args, say) -> None:
    """Think times shorter and shorter, each with every worker count in turn (so they meet much the same load
    from other work); a worker count leaves once it misses the goal twice at a think time."""
    logs = Path(tempfile.mkdtemp(prefix="mrmc-bench-web-"))
    say(f"\ngunicorn (gthread, 4 threads per worker), {args.web_readers} simulated readers, "
        f"{args.web_seconds:g} s of reading per step, think times {args.think_steps} (gunicorn logs in {logs}):")
    say(f"{'workers':>7} {'think s':>8} {'reads/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  "
        "CPU ms per read: gunicorn, PostgreSQL, load generator; load average before -> after")
    best = {workers: 0.0 for workers in args.web_workers}  # highest reads/s with p95 under the goal
    cpu: dict[int, list[dict[str, float]]] = {workers: [] for workers in args.web_workers}
    going = list(args.web_workers)
    for think in args.think_steps:
        for workers in list(going):
            for _attempt in range(2):  # the machine is shared: one more try before a worker count leaves
                step = web_step(args, workers, think, logs)
                cpu[workers].append(step.cpu_ms)
                say(f"{workers:>7} {think:>8g} {step.rate:>8.1f} {step.p50:>7.0f} {step.p95:>7.0f} "
                    f"{step.p99:>7.0f}  {', '.join(f'{ms:.1f}' for ms in step.cpu_ms.values())}; {step.loads}")
                if step.p95 < GOAL_P95_MS:
                    best[workers] = max(best[workers], step.rate)
                    break
            else:
                going.remove(workers)
    say(f"\nhighest reads/s with p95 submission < {GOAL_P95_MS} ms, and the median CPU per read:")
    for workers, rate in best.items():
        figure = (f"{rate:.1f} reads/s" + ("" if workers not in going else " or more (every think time met it)")
                  if rate else f"none: p95 >= {GOAL_P95_MS} ms at the longest think time")
        medians = {name: statistics.median(step[name] for step in cpu[workers]) for name in cpu[workers][0]}
        say(f"  {workers} gunicorn worker(s): {figure}; CPU per read "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items()))


# ------------------------------------------------------------------ main

def numbers(kind: Callable[[str], float | int]):
    return lambda text: [kind(item) for item in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="state folder of a running deploy/local-stack (default: a new one)")
    parser.add_argument("--readers", type=int, default=20, help="readers of the seeded study")
    parser.add_argument("--cases", type=int, default=1000, help="cases of the seeded study")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--studies", type=int, default=2000, help="simulated studies of the power analysis")
    parser.add_argument("--power-readers", type=int, default=20, help="readers of the planned design")
    parser.add_argument("--power-cases", type=int, default=1000, help="cases of the planned design")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each job per configuration")
    parser.add_argument("--web-workers", type=numbers(int), default=[1, 2, 4])
    parser.add_argument("--web-readers", type=int, default=50)
    parser.add_argument("--web-seconds", type=float, default=45,
                        help="reading per reader at the mean think time, each step (sets the cases per reader)")
    parser.add_argument("--think-steps", type=numbers(float), default=[4.0, 2.5, 1.6, 1.0],
                        help="think times tried in turn (s), until p95 submission reaches 100 ms")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-web", action="store_true")
    args = parser.parse_args()
    if problem := missing_postgres():
        sys.exit(problem)
    started = time.monotonic()

    def say(line: str) -> None:
        print(line if line.startswith(("\n", " ")) or not line else f"[{time.monotonic() - started:6.1f} s] {line}",
              flush=True)

    say(f"load average at the start {loads()}")
    if not args.skip_workers:
        bench_workers(args, say)
    if not args.skip_web:
        bench_web(args, say)
    say(f"load average at the end {loads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
