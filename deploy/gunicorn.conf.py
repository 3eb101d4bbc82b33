"""gunicorn settings for production (behind nginx)."""

import multiprocessing

bind = "0.0.0.0:8000"
workers = max(2, multiprocessing.cpu_count())
threads = 4  # WADO-RS streams files; threads keep a slow client from holding a whole worker
worker_class = "gthread"
timeout = 120
accesslog = "-"
control_socket_disable = True
forwarded_allow_ips = "*"


def post_worker_init(worker):
    """Build the URL resolver (importing every view) before the worker takes a request: a worker
    that replaces a killed one would otherwise spend its first requests, seconds under load, on it."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (evaluated for its import side effect)
