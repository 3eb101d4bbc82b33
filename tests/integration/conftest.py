"""Real services for integration tests: a Celery worker process on Redis against the test database, Orthanc."""

import contextlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.local_stack.orthanc import missing_orthanc, orthanc_command
from deploy.local_stack.processes import free_port
from tests.conftest import skip_or_fail

# ------------------------------------------------------------------ Orthanc


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: ``url`` is its REST root, ``dicomweb`` its DICOMweb root."""

    url: str
    dicomweb: str

    def upload(self, data: bytes) -> None:
        import requests

        response = requests.post(f"{self.url}/instances", data=data, headers={"Content-Type": "application/dicom"},
                                 timeout=30)
        response.raise_for_status()


def orthanc_installed() -> bool:
    return missing_orthanc() is None


@contextlib.contextmanager
def running_orthanc(folder: Path):
    """Orthanc with the DICOMweb plugin as the local stack configures it (loopback only), its config and
    database in ``folder``; stopped on exit. A private network namespace would hide it from the Django
    server under test, which must reach it too.
    """
    import requests

    port = free_port()
    command = orthanc_command(folder=folder, port=port, name="MRMC-TEST")
    log_path = folder / "orthanc.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 20
            while not _answers(requests, f"{url}/system"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.05)
            yield Orthanc(url, f"{url}/dicom-web")
        finally:
            process.terminate()
            process.wait(timeout=20)


def _answers(requests, url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


@pytest.fixture
def orthanc(tmp_path):
    if not orthanc_installed():
        skip_or_fail("Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
    with running_orthanc(tmp_path) as server:
        yield server
