"""Under gunicorn (deploy/gunicorn.conf.py) the metrics are the server's, whichever worker answers the
scrape: counts survive the workers that made them, and a killed worker's requests stop being in flight."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT

WORKERS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = open(tmp_path / "gunicorn.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "deploy/gunicorn.conf.py",
             "--bind", self.url.removeprefix("http://"), "--workers", str(WORKERS), "--timeout", "60"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def workers(self) -> list[int]:
        pid = self.process.pid
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def wait_ready(self, previous=(), timeout=60):
        """Every worker up (none of ``previous``) and answering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()[-3000:]
            pids = self.workers()
            if len(pids) == WORKERS and not set(pids) & set(previous):
                try:
                    get(self.url + "/metrics")  # not /livez, whose requests the test counts
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        pytest.fail(f"gunicorn not ready:\n{Path(self.log.name).read_text()[-3000:]}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def ask_and_lose_the_answer(url: str) -> None:
    try:
        get(url, timeout=60)
    except OSError:  # its worker is killed
        pass


def scrape(url) -> dict[tuple[str, frozenset], float]:
    families = text_string_to_metric_families(get(url + "/metrics").decode())
    return {(s.name, frozenset(s.labels.items())): s.value for family in families for s in family.samples}


LIVEZ = ("mrmc_http_request_duration_seconds_count", frozenset({"route": "livez", "method": "GET",
                                                                 "status": "2xx"}.items()))
IN_FLIGHT = ("mrmc_http_requests_in_flight", frozenset())


@pytest.fixture
def slow_archive():
    """A DICOMweb server that answers only when released: a /healthz request stays in flight meanwhile."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            release.wait(60)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/dicom-web"
    release.set()
    server.shutdown()
    server.server_close()


def test_metrics_are_merged_across_workers_and_outlive_them(tmp_path, slow_archive):
    env = {key: value for key, value in os.environ.items()
           if key not in ("CELERY_BROKER_URL", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")}
    env.update(MRMC_DATA_DIR=str(tmp_path), IMAGE_MODE="archive", DICOMWEB_ARCHIVE_URL=slow_archive,
               HEALTH_TIMEOUT_S="60", LOG_LEVEL="WARNING")
    server = Server(tmp_path, env)
    try:
        server.wait_ready()
        for _ in range(40):
            get(server.url + "/livez")
        assert scrape(server.url)[LIVEZ] == 40

        stuck = threading.Thread(target=ask_and_lose_the_answer, args=(server.url + "/healthz",), daemon=True)
        stuck.start()
        deadline = time.monotonic() + 10
        while scrape(server.url)[IN_FLIGHT] < 2:  # the stuck request and the scrape
            assert time.monotonic() < deadline, "the /healthz request never got in flight"
            time.sleep(0.05)

        killed = server.workers()
        for pid in killed:  # every worker: what a scrape reports now can only come from the files
            os.kill(pid, signal.SIGKILL)
        server.wait_ready(previous=killed)
        samples = scrape(server.url)
        assert samples[LIVEZ] == 40  # the dead workers' counts stay counted
        assert samples[IN_FLIGHT] == 1  # only the scrape: child_exit took the dead worker's requests out
    finally:
        server.stop()
