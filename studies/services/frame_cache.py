"""Frames transcoded for WADO-RS, kept on disk by what determines their bytes, so each is encoded once.

A frame's file is named by the instance's SHA-256 (its content), the frame number, the transfer
syntax and the encoder version (:data:`mrmc.dicom.transcode.ENCODER_VERSION`): the same name always
holds the same bytes, for every process that shares ``FRAME_CACHE_DIR``. A file is written whole,
to a temporary name then renamed (``os.replace``), so a reader finds a complete frame or none, and
writers of one frame at the same time leave one complete copy.

The folder is bounded by ``FRAME_CACHE_MAX_BYTES``: each read of a frame marks it used (its
modification time), and once a process has written a sixteenth of the bound since it last looked,
it removes the least recently used frames until the cache is under nine tenths of the bound.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from mrmc.dicom.storage import SHA256_HEX, write_atomically
from mrmc.dicom.transcode import ENCODER_VERSION

logger = logging.getLogger(__name__)

UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
TEMP_PREFIX = ".writing-"
SWEEP_EVERY_FRACTION = 16  # of the bound written by one process between two sweeps
SWEEP_DOWN_TO = 0.9  # of the bound, so that a sweep is not due again at the next write
ABANDONED_WRITE_S = 3600  # a temporary file this old belongs to a writer that died


@dataclass(frozen=True)
class CachedFile:
    path: Path
    size: int
    used: float


class FrameCache:
    """Encoded frames under ``root/<sha256[:2]>/<sha256>/``, at most about ``max_bytes`` in all.

    Parameters
    ----------
    root : str or path
        Folder of the cache; created on the first write.
    max_bytes : int
        Bound of the files' total size.
    """

    def __init__(self, root: str | os.PathLike, max_bytes: int):
        self.root, self.max_bytes = Path(root), max_bytes
        self.written_since_sweep = 0

    def path_for(self, instance_sha256: str, number: int, transfer_syntax: str,
                 encoder_version: str = ENCODER_VERSION) -> Path:
        """Where this frame's file is (it may not exist).

        Raises
        ------
        ValueError
            A part of the key could name another path: not a SHA-256, a frame number or a UID.
        """
        if not SHA256_HEX.fullmatch(instance_sha256):
            raise ValueError(f"not a sha256 hex digest: {instance_sha256!r}")
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ValueError(f"not a frame number: {number!r}")
        if len(transfer_syntax) > 64 or not UID_PATTERN.fullmatch(transfer_syntax):
            raise ValueError(f"not a transfer syntax UID: {transfer_syntax!r}")
        version = hashlib.sha256(encoder_version.encode()).hexdigest()[:16]
        return self.root / instance_sha256[:2] / instance_sha256 / f"{number}_{transfer_syntax}_{version}"

    def get_or_encode(self, instance_sha256: str, number: int, transfer_syntax: str,
                      encode: Callable[[], bytes], encoder_version: str = ENCODER_VERSION) -> bytes:
        """The cached frame, or ``encode()``'s bytes, stored for the next request.

        An exception of ``encode`` propagates and nothing is stored. A frame that cannot be
        stored (disk full, read-only folder) is still returned, and logged.
        """
        path = self.path_for(instance_sha256, number, transfer_syntax, encoder_version)
        cached = self._read(path)
        if cached is not None:
            return cached
        data = bytes(encode())
        try:
            write_atomically(path, data, temp_prefix=TEMP_PREFIX)  # writers of one frame write the same bytes
        except OSError as exc:
            logger.warning("frame not cached: %s: %s", path, exc)
            return data
        self.written_since_sweep += len(data)  # per process; an approximate count is enough
        if self.written_since_sweep >= self.max_bytes // SWEEP_EVERY_FRACTION:
            self.sweep()
        return data

    def sweep(self) -> int:
        """Remove the least recently used frames while the cache exceeds its bound, down to nine
        tenths of it, and temporary files of writers that died; returns the bytes removed."""
        self.written_since_sweep = 0
        files, removed = [], 0
        for entry in self._files():
            if entry.path.name.startswith(TEMP_PREFIX):
                if entry.used < time.time() - ABANDONED_WRITE_S:
                    removed += _remove(entry)
            else:
                files.append(entry)
        total = sum(entry.size for entry in files)
        if total <= self.max_bytes:
            return removed
        for entry in sorted(files, key=lambda entry: entry.used):
            if total <= self.max_bytes * SWEEP_DOWN_TO:
                break
            removed += _remove(entry)
            total -= entry.size
        return removed

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # never written, or swept
            return None
        with contextlib.suppress(FileNotFoundError):  # swept since: the bytes read are whole all the same
            os.utime(path)  # marks it used: the sweep keeps the frames read last
        return data

    def _files(self):
        for prefix in _subfolders(self.root):
            for instance in _subfolders(Path(prefix.path)):
                with os.scandir(instance.path) as entries:
                    for entry in entries:
                        try:
                            stat = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:  # swept by another process meanwhile
                            continue
                        yield CachedFile(Path(entry.path), stat.st_size, stat.st_mtime)


def _subfolders(folder: Path):
    try:
        with os.scandir(folder) as entries:
            return [entry for entry in entries if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _remove(entry: CachedFile) -> int:
    try:
        entry.path.unlink()
    except FileNotFoundError:  # another process swept it first
        return 0
    return entry.size


@functools.cache
def _cache_at(root: str, max_bytes: int) -> FrameCache:
    """One cache object per folder and bound in a process, so its count of bytes written persists."""
    return FrameCache(root, max_bytes)


def frame_cache() -> FrameCache:
    return _cache_at(str(settings.FRAME_CACHE_DIR), settings.FRAME_CACHE_MAX_BYTES)


def cached_frame(*, instance_sha256: str, number: int, transfer_syntax: str, encode: Callable[[], bytes]) -> bytes:
    """Frame ``number`` of the instance in ``transfer_syntax``: from the cache, else ``encode()`` once and kept.

    ``encode`` is typically ``lambda: mrmc.dicom.transcode.encode_frame(ds, number, transfer_syntax)``;
    it is called only on a miss, so a caller may read the instance inside it.
    """
    return frame_cache().get_or_encode(instance_sha256, number, transfer_syntax, encode)
