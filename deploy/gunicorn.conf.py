"""gunicorn settings for production (behind nginx)."""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from studies.observability.logs import logging_config

bind = "0.0.0.0:8000"
workers = max(2, multiprocessing.cpu_count())
threads = 4  # WADO-RS streams files; threads keep a slow client from holding a whole worker
worker_class = "gthread"
timeout = 120
# No access log: it would carry raw paths (DICOM UIDs) and query strings (QIDO-RS searches by patient);
# the application logs one line per request with its route name, status, duration and request id.
accesslog = None
# gunicorn's own messages in the application's format (LOG_FORMAT: json unless set to text).
logconfig_dict = logging_config(log_format=os.environ.get("LOG_FORMAT", "json"),
                                level=os.environ.get("LOG_LEVEL", "INFO"))
control_socket_disable = True
forwarded_allow_ips = "*"

# Prometheus multiprocess mode (studies/observability/metrics.py): every worker writes its samples to
# files in this folder and a scrape of any worker merges them. Set here, in the master, before a worker
# imports prometheus_client; without PROMETHEUS_MULTIPROC_DIR a folder of this start's own is made.
MADE_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if MADE_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mrmc-prometheus-")


def on_starting(server):
    """Counters start from zero with the server: samples of an earlier run in a given folder are removed."""
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    for samples in folder.glob("*.db"):
        samples.unlink()


def post_worker_init(worker):
    """Build the URL resolver (importing every view) before the worker takes a request: a worker
    that replaces a killed one would otherwise spend its first requests, seconds under load, on it."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (evaluated for its import side effect)


def child_exit(server, worker):
    """A dead worker's requests in flight are no longer in flight; its counted samples stay counted."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if MADE_METRICS_DIR:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
