"""WADO-RS frame retrieval, ours against Orthanc, on the same instances in one run.

Run: ``python benchmarks/bench_wado.py`` (needs Orthanc + its DICOMweb plugin).

A scratch data folder gets the demo study (``seed_demo``: synthetic 2048x2048 chest
radiographs, 16 bits allocated), served by gunicorn on loopback as in production
(DEBUG off, a throwaway PostgreSQL cluster and Redis broker, as the production settings require).
Orthanc gets the very files we store. Every request asks for frame 1
uncompressed (PS3.18 8.7.3, Explicit VR Little Endian), as a reader in an open session.

It prints, per server:
- time to first frame: a new connection per case, request to the last byte of frame 1
  (median and worst over the cases), i.e. what the viewer waits for when a case opens;
- frames/second: one keep-alive connection fetching the frames one after another, and
  ``--threads`` connections at once;
and the ratio ours / Orthanc of the times. Goals: first frame < 300 ms, and at most Orthanc's time (1.0x).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from deploy.local_stack.processes import PostgresCluster, RedisServer, missing_postgres  # noqa: E402

ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=8, help="demo cases (a reader opens about half)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the frames for frames/second")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()
    if problem := missing_postgres():
        sys.exit(problem)
    scratch = Path(tempfile.mkdtemp(prefix="bench-wado-"))
    try:
        with PostgresCluster() as cluster, RedisServer() as broker:
            os.environ.update(
                MRMC_DATA_DIR=str(scratch), DJANGO_DEBUG="0", SECRET_KEY="bench-wado", DEID_KEY="bench-wado-deid",
                ALLOWED_HOSTS="127.0.0.1", LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="config.settings",
                SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback, as behind nginx; TLS is not what is measured
                DATABASE_URL=cluster.create_database("bench"), CELERY_BROKER_URL=broker.url,
            )
            run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args, scratch: Path) -> None:
    import django

    django.setup()
    from tests.integration.conftest import orthanc_installed, running_orthanc

    if not orthanc_installed():
        sys.exit("Orthanc with the DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
    started = time.perf_counter()
    token, frames = prepare_study(args.cases)
    print(f"demo study with {len(frames)} open frames ready in {time.perf_counter() - started:.1f} s")
    with running_orthanc(scratch) as orthanc, running_gunicorn(args.workers) as ours_url:
        for _, sha256 in frames:
            orthanc.upload(stored_file(sha256))
        servers = {
            "ours (gunicorn)": (ours_url + "/dicomweb", {"Authorization": f"Token {token}"}),
            "Orthanc": (orthanc.dicomweb, {}),
        }
        paths = [path for path, _ in frames]
        check_same_bytes(servers, paths[0])
        results = {}
        for name, (url, headers) in servers.items():
            print(f"measuring {name} ...", flush=True)
            results[name] = measure(url, headers, paths, args)
    report(results, args)


def prepare_study(n_cases: int):
    """The demo study; reader1's token and the frame paths of the cases open to them."""
    from django.core.management import call_command
    from knox.models import AuthToken

    from studies.models import DicomInstance, User
    from studies.permissions import dicom_studies_visible_to
    from studies.services.demo import seed_demo

    call_command("migrate", verbosity=0)
    seed_demo(n_cases=n_cases)
    reader = User.objects.get(username="reader1")
    instances = DicomInstance.objects.filter(series__dicom_study__in=dicom_studies_visible_to(reader)).select_related(
        "series__dicom_study")
    frames = [(f"/studies/{i.series.dicom_study.study_instance_uid}/series/{i.series.series_instance_uid}"
               f"/instances/{i.sop_instance_uid}/frames/1", i.sha256) for i in instances]
    return AuthToken.objects.create(user=reader)[1], frames


def stored_file(sha256: str) -> bytes:
    from studies.services.ingest import content_store

    return content_store().path_for(sha256).read_bytes()


class running_gunicorn:  # noqa: N801 - used like contextlib's helpers
    """gunicorn serving config.wsgi on a free loopback port, with the scratch settings."""

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self) -> str:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers",
             str(self.workers), "--no-control-socket", "--log-level", "warning"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/livez", timeout=10).raise_for_status()  # no Celery worker here
                return url
            except requests.RequestException:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def fetch(session: requests.Session, url: str, headers: dict) -> int:
    response = session.get(url, headers={"Accept": ACCEPT, **headers})
    response.raise_for_status()
    return len(response.content)


def check_same_bytes(servers: dict, path: str) -> None:
    bodies = []
    for url, headers in servers.values():
        response = requests.get(url + path, headers={"Accept": ACCEPT, **headers})
        response.raise_for_status()
        boundary = response.headers["Content-Type"].rsplit("boundary=", 1)[1].strip('"').encode()
        bodies.append(response.content.split(b"--" + boundary)[1].split(b"\r\n\r\n", 1)[1][:-2])
    if bodies[0] != bodies[1]:
        raise SystemExit("the servers return different frame bytes")


def measure(url: str, headers: dict, paths: list[str], args) -> dict:
    first = []
    for path in paths:  # a case opens: new connection, first frame
        with requests.Session() as session:
            started = time.perf_counter()
            fetch(session, url + path, headers)
            first.append(time.perf_counter() - started)
    with requests.Session() as session:
        started = time.perf_counter()
        for _ in range(args.rounds):
            for path in paths:
                fetch(session, url + path, headers)
        sequential = args.rounds * len(paths) / (time.perf_counter() - started)
    sessions = [requests.Session() for _ in range(args.threads)]
    work = [(sessions[i % args.threads], url + path) for i, path in enumerate(paths * args.rounds * args.threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda item: fetch(item[0], item[1], headers), work))
    parallel = len(work) / (time.perf_counter() - started)
    return {"first_median": statistics.median(first), "first_max": max(first),
            "sequential": sequential, "parallel": parallel}


def report(results: dict, args) -> None:
    (ours_name, ours), (theirs_name, theirs) = results.items()
    print(f"\nWADO-RS frames/1, 2048x2048x16 bit (8 MiB per frame), {args.workers} gunicorn workers")
    print(f"{'server':<18}{'first frame median':>20}{'worst':>10}{'frames/s 1 conn':>18}"
          f"{f'frames/s {args.threads} conn':>18}")
    for name, r in results.items():
        print(f"{name:<18}{r['first_median'] * 1000:>17.1f} ms{r['first_max'] * 1000:>7.1f} ms"
              f"{r['sequential']:>18.1f}{r['parallel']:>18.1f}")
    print(f"\nratio {ours_name} / {theirs_name} (time; at most 1.0 is the goal):")
    print(f"  time to first frame     {ours['first_median'] / theirs['first_median']:.2f}")
    print(f"  time per frame, 1 conn  {theirs['sequential'] / ours['sequential']:.2f}")
    print(f"  time per frame, {args.threads} conn  {theirs['parallel'] / ours['parallel']:.2f}")


if __name__ == "__main__":
    main()
