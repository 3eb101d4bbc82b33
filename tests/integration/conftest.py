"""Real services for integration tests: a Celery worker process on Redis against the test database, Orthanc."""

import contextlib
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

# ------------------------------------------------------------------ Orthanc

ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


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


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def orthanc_installed() -> bool:
    return shutil.which("Orthanc") is not None and ORTHANC_PLUGIN.exists()


@contextlib.contextmanager
def running_orthanc(folder: Path):
    """Orthanc with the DICOMweb plugin, its config and database in ``folder``; stopped on exit.

    Orthanc cannot bind to one address, so it answers 403 to anything but loopback
    (RemoteAccessAllowed false) and callers only talk to it on 127.0.0.1. A private network
    namespace would hide it from the Django server under test, which must reach it too.
    """
    import requests

    port = _free_loopback_port()
    storage = folder / "orthanc-db"
    config = {
        "Name": "MRMC-TEST", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "HttpServerEnabled": True, "HttpPort": port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomServerEnabled": False, "HttpCompressionEnabled": False,
        "Plugins": [str(ORTHANC_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": f"127.0.0.1:{port}",
                     "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config))
    log_path = folder / "orthanc.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([shutil.which("Orthanc"), str(config_path)], stdout=log, stderr=subprocess.STDOUT)
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
