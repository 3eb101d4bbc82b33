"""The registered AI model files (``AI_MODEL_STORAGE``), ``ab/cd/<sha256>.onnx``, as the database's rows name them.

A backup holds exactly the files the dumped ``AIModel`` rows name, copied after the dump: a model's
file is stored before its row commits (``studies.services.precompute.register_model``) and nothing
deletes one, so each is in the store by then, and one that is not is an error naming the model. A
file no row names (a registration that failed after storing it) is left out. Files are copied in
chunks (a model may be up to ``AI_MODEL_MAX_BYTES``), hashed on the way, and put in place by a rename
only when the bytes are those the name says.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path

from mrmc.dicom.storage import TEMP_PREFIX, ContentStore

from .manifest import CHUNK_BYTES, MODEL_SUFFIX, stored_files


class ModelStoreError(Exception):
    """A model file is missing or damaged, or cannot be stored; the message says which."""


class ModelFiles:
    """The store of registered model files at ``root`` (``settings.AI_MODEL_STORAGE``)."""

    def __init__(self, root: Path):
        self.files = ContentStore(root, suffix=MODEL_SUFFIX)

    def __str__(self) -> str:
        return f"the model store {self.files.root}"

    def count(self) -> int:
        return sum(1 for _ in stored_files(self.files))

    def export(self, models: dict[str, str], into: ContentStore) -> set[str]:
        """Copy the file of each of ``models`` (SHA-256 -> what the rows call it) into ``into``; their SHA-256s."""
        if missing := [f"{label} (sha256 {sha256})" for sha256, label in sorted(models.items())
                       if not self.files.exists(sha256)]:
            raise ModelStoreError(f"{len(missing)} registered models have no file in {self}: {'; '.join(missing[:5])}"
                                  ": the store lost them; this backup is incomplete")
        for sha256 in sorted(models):
            copy_checked(self.files.path_for(sha256), sha256, into)
        return set(models)

    def store(self, source: Path, sha256: str) -> None:
        copy_checked(source, sha256, self.files)


def copy_checked(source: Path, sha256: str, into: ContentStore) -> None:
    """``source`` to its place in ``into``, or ModelStoreError where its bytes are not ``sha256``'s (nothing left)."""
    target = into.path_for(sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-")
    try:
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            while chunk := reader.read(CHUNK_BYTES):
                digest.update(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        if digest.hexdigest() != sha256:
            raise ModelStoreError(f"{source} does not have the SHA-256 its name says: damaged")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)
