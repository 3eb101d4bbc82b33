import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import BROKER_URL, _drop_connection_pools, _redis_reachable, skip_or_fail


@pytest.fixture
def redis_broker(monkeypatch):
    """Tasks published to the test Redis (nobody consumes them) instead of run in-process."""
    from config.celery import app

    if not _redis_reachable(BROKER_URL):
        skip_or_fail(f"Redis not reachable at {BROKER_URL}")
    monkeypatch.setenv("CELERY_BROKER_URL", BROKER_URL)
    previous = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=BROKER_URL)
    _drop_connection_pools(app)
    yield app
    app.conf.update(previous)
    _drop_connection_pools(app)


@pytest.fixture
def own_queue(settings):
    """A queue name no other test uses, watched alone (tests may share the Redis database)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    settings.CELERY_QUEUES_WATCHED = [name]
    return name


class StubArchive(BaseHTTPRequestHandler):
    status = 200
    requests: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).requests.append(self.path)
        body = b"[]"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_archive():
    """A DICOMweb server on loopback answering QIDO-RS with ``StubArchive.status`` and no studies."""
    handler = type("Handler", (StubArchive,), {"status": 200, "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_port}/dicom-web"
    server.shutdown()
    server.server_close()
