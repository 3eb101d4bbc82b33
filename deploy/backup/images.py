"""The image stores a backup exports from and restores into: Orthanc (``IMAGE_MODE=archive``) or the
local content store (``local``). Both give and take whole Part 10 files, named by their SHA-256.

Orthanc is exported through its REST API (``/instances``, ``/instances/{id}/file``) while it runs,
not by copying its storage folder: the files come back byte for byte as ingest sent them, so each
is checked against the SHA-256 the platform's index holds; the export needs no downtime; and it
does not depend on Orthanc's storage layout (SQLite or PostgreSQL index, folder or object storage,
compression), so it restores into any Orthanc, of another version too (``POST /instances``).
Copying the storage folder would need Orthanc stopped (its index and its files must agree) and the
same Orthanc and plugins to read it back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import requests

from mrmc.dicom.storage import ContentStore

from .manifest import stored_files

TIMEOUT_S = (5, 300)
PAGE = 1000  # instance ids asked of Orthanc at a time


class ImageStoreError(Exception):
    """The image store cannot give or take an image; the message says which and why."""


class OrthancImages:
    """Orthanc's own REST API at ``url`` (its root, not the DICOMweb root)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False  # loopback or the backend network, never through a proxy

    def __str__(self) -> str:
        return f"Orthanc at {self.url}"

    def count(self) -> int:
        return int(self._get(f"{self.url}/statistics").json()["CountInstances"])

    def export(self, into: ContentStore) -> set[str]:
        """Every instance Orthanc holds into ``into``; the SHA-256s written."""
        return {into.put(self._get(f"{self.url}/instances/{orthanc_id}/file").content).sha256
                for orthanc_id in self._instance_ids()}

    def store(self, data: bytes, sha256: str) -> None:
        """Store the file and read it back: Orthanc keeps the first copy of an instance and answers
        success to the second, so only the bytes it now serves prove the image is back."""
        answer = self._call("POST", f"{self.url}/instances", data=data,
                            headers={"Content-Type": "application/dicom"}).json()
        served = self._get(f"{self.url}/instances/{answer['ID']}/file").content
        if hashlib.sha256(served).hexdigest() != sha256:
            raise ImageStoreError(f"{self} holds instance {answer['ID']} with other bytes than image {sha256} "
                                  f"({answer.get('Status')}): remove it there and restore again")

    def _instance_ids(self) -> Iterator[str]:
        since = 0
        while page := self._get(f"{self.url}/instances", params={"since": since, "limit": PAGE}).json():
            yield from page
            since += len(page)

    def _get(self, url: str, **kwargs) -> requests.Response:
        return self._call("GET", url, **kwargs)

    def _call(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise ImageStoreError(f"{self} is unreachable ({type(exc).__name__})") from None
        if not response.ok:
            raise ImageStoreError(f"{self} answered {response.status_code} to {method} "
                                  f"{url.removeprefix(self.url)}: {response.text[:200]}")
        return response


class LocalImages:
    """The local content store (``DICOM_STORAGE``), the same layout as the backup's images."""

    def __init__(self, root: Path):
        self.files = ContentStore(root)

    def __str__(self) -> str:
        return f"the local image store {self.files.root}"

    def count(self) -> int:
        return sum(1 for _ in self._files())

    def export(self, into: ContentStore) -> set[str]:
        names = set()
        for sha256, path in self._files():
            stored = into.put(path.read_bytes())
            if stored.sha256 != sha256:
                raise ImageStoreError(f"{path} does not have the SHA-256 its name says: damaged in the store")
            names.add(sha256)
        return names

    def store(self, data: bytes, sha256: str) -> None:
        if self.files.put(data).sha256 != sha256:
            raise ImageStoreError(f"image {sha256} was not stored with the bytes given")

    def _files(self) -> Iterator[tuple[str, Path]]:
        """Stored images, ``ab/cd/<sha256>.dcm``: not the uploads waiting in ``incoming/`` for their ingest
        job, nor the model files in ``models/`` (AI_MODEL_STORAGE's default), nor a file half written."""
        return stored_files(self.files)
