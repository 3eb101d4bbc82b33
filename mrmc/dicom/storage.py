"""Content-addressed file store: a file's name is the SHA-256 of its bytes.

Storing the same bytes twice writes nothing the second time, so a repeated
import is a no-op; a file is written under a temporary name and renamed into
place, so readers never see half a file. The temporary name says which process writes it
(``.incoming-<host>-<pid>-<random>``): what a killed writer left is found by
:meth:`ContentStore.remove_abandoned_writes`.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import BinaryIO, NamedTuple

from mrmc.processes import process_exists

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = ".incoming-"


def write_atomically(path: Path, data: bytes, *, temp_prefix: str) -> None:
    """Write ``data`` to a temporary file beside ``path``, on disk, then rename it to ``path``: a reader
    never sees part of it, and a crash leaves at most a temporary file (named ``temp_prefix``...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class PutResult(NamedTuple):
    """Outcome of :meth:`ContentStore.put`."""

    sha256: str
    path: Path
    created: bool


class ContentStore:
    """Files under ``root/ab/cd/<sha256><suffix>`` where ``abcd`` starts the digest.

    Parameters
    ----------
    root : str or path
        Folder of the store; created on the first write.
    suffix : str
        Of every file name (``.dcm`` for DICOM instances).
    """

    def __init__(self, root: str | os.PathLike, suffix: str = ".dcm"):
        self.root, self.suffix = Path(root), suffix

    def path_for(self, sha256: str) -> Path:
        """Where the file with this digest lives (it may not exist).

        Raises
        ------
        ValueError
            ``sha256`` is not 64 lower-case hex digits (guards against path traversal).
        """
        if not SHA256_HEX.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}{self.suffix}"

    def put(self, data: bytes) -> PutResult:
        """Store ``data`` once; ``created`` is False when it was already there."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256)
        if path.exists():
            return PutResult(sha256, path, False)
        # Concurrent writers of the same bytes replace identical content.
        write_atomically(path, data, temp_prefix=f"{TEMP_PREFIX}{socket.gethostname()}-{os.getpid()}-")
        return PutResult(sha256, path, True)

    def remove_abandoned_writes(self) -> list[str]:
        """Remove the temporary files of writers on this host whose process has ended (killed mid-write);
        returns their names. Files of live writers and of other hosts are left alone."""
        removed = []
        for temp in self.root.glob(f"*/*/{TEMP_PREFIX}*"):
            host, _, rest = temp.name[len(TEMP_PREFIX):].rpartition("-")[0].rpartition("-")
            if host == socket.gethostname() and rest.isdigit() and not process_exists(int(rest)):
                temp.unlink(missing_ok=True)
                removed.append(temp.name)
        return removed

    def exists(self, sha256: str) -> bool:
        """Whether a file with this digest is stored."""
        return self.path_for(sha256).exists()

    def open(self, sha256: str) -> BinaryIO:
        """Open the stored file for streaming reads (the caller closes it).

        Raises
        ------
        FileNotFoundError
            Nothing is stored under this digest.
        """
        return self.path_for(sha256).open("rb")
