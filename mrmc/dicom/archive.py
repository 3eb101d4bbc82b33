"""Zip archives of DICOM files, read within limits whatever the archive claims.

The sizes, counts and names in a zip's headers are written by whoever made the
archive, so they serve only to refuse early: the member count and the central
directory's size are checked before :mod:`zipfile` parses the directory, and every
member is inflated through a read that stops one byte past its limit, so a bomb
costs at most that limit in memory whatever its headers say (APPNOTE 6.3.10).
Nothing is ever extracted to disk; unsafe names are refused all the same, since
an archive that carries them was not made by a scanner.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mrmc.dicom.limits import DicomLimits

MiB = 1024 * 1024
# Local file header; end of central directory (an empty archive).
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
# Allowance per member for the central directory (46 fixed bytes, a name, extra fields),
# so that zipfile, which holds one ZipInfo per entry, never builds millions of them.
CENTRAL_DIRECTORY_BYTES_PER_MEMBER = 384
EOCD = struct.Struct("<4s4H2LH")  # APPNOTE 4.3.16
ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 4.3.15
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # 4.3.14
DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
READ_CHUNK = 1 * MiB
UNIX = 3  # "version made by" host system: the high bytes of external_attr are st_mode


@dataclass(frozen=True)
class ArchiveLimits:
    """Largest archive :func:`zip_members` reads.

    Parameters
    ----------
    max_members : int
        Entries in the central directory, folders included.
    max_member_bytes : int
        Inflated size of one member, by default the largest DICOM file accepted.
    max_total_bytes : int
        Inflated size of all members together; members after it are refused unread.
    """

    max_members: int = 10_000
    max_member_bytes: int = DicomLimits.max_file_bytes
    max_total_bytes: int = 16 * 1024 * MiB


class ArchiveRefused(ValueError):
    """A member or a whole archive is not read; ``kind`` classes the reason, ``str()`` says it."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Member:
    """One file of an archive: ``read()`` gives its bytes or raises :class:`ArchiveRefused`."""

    name: str
    read: Callable[[], bytes]


def looks_like_zip(head: bytes) -> bool:
    """Whether the first bytes of a file start a zip archive and not a DICOM file.

    A Part 10 file may carry anything in its 128-byte preamble, a zip header included
    (PS3.10 7.5), so ``DICM`` at offset 128 wins.
    """
    return head[:4] in ZIP_SIGNATURES and head[128:132] != b"DICM"


def zip_members(path: str | Path, limits: ArchiveLimits = ArchiveLimits()) -> Iterator[Member]:
    """Every file member of the zip at ``path``, each read only when asked for.

    Raises
    ------
    ArchiveRefused
        The whole archive: not a readable zip (``bad-archive``) or more members than
        allowed (``too-many-members``). A member's own problems are raised by its ``read``.
    """
    _check_directory_size(Path(path), limits)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ArchiveRefused("bad-archive", f"not a readable zip archive ({_reason(exc)})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise _too_many(len(infos), limits)
        budget = _Budget(limits.max_total_bytes)
        for info in infos:
            if not info.is_dir():
                yield Member(info.orig_filename, lambda info=info: _read_member(archive, info, limits, budget))


def member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be read (an unsafe name or type, encryption), or None."""
    name = info.orig_filename
    if "\x00" in name or "\\" in name:
        return "its name holds a backslash or a NUL character"
    if name.startswith("/") or DRIVE_LETTER.match(name):
        return "its name is an absolute path"
    if ".." in name.split("/"):
        return "its name climbs out of the archive ('..')"
    mode = info.external_attr >> 16
    if info.create_system == UNIX and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "it is a symbolic link, a device or a pipe, not a regular file"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    return None


class _Budget:
    """Inflated bytes left for the rest of one archive."""

    def __init__(self, total: int):
        self.left = total


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits, budget: _Budget) -> bytes:
    problem = member_problem(info)
    if problem:
        raise ArchiveRefused("unsafe-member", f"refused: {problem}")
    if budget.left <= 0:
        total = _size(limits.max_total_bytes)
        raise ArchiveRefused("too-large", f"not read: the archive inflates to more than {total}")
    limit = min(limits.max_member_bytes, budget.left)
    if info.file_size > limit:
        raise ArchiveRefused("too-large", f"inflates to more than {_size(limit)}")
    try:
        with archive.open(info) as handle:
            data = read_at_most(handle, limit)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ArchiveRefused("bad-archive", f"cannot be extracted ({_reason(exc)})") from None
    if data is None:
        budget.left -= limit
        raise ArchiveRefused("too-large", f"inflates to more than {_size(limit)}")
    budget.left -= len(data)
    if looks_like_zip(data):
        raise ArchiveRefused("nested-archive", "an archive inside an archive is not opened; upload it on its own")
    return data


def read_at_most(handle: BinaryIO, limit: int) -> bytes | None:
    """All of ``handle`` if it holds at most ``limit`` bytes, else None; read a chunk at a time, since
    an inflater asked for ``limit`` bytes at once allocates them whatever the member's real size."""
    chunks, size = [], 0
    while size <= limit:
        chunk = handle.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def _check_directory_size(path: Path, limits: ArchiveLimits) -> None:
    """Refuse an archive whose end record announces too many entries or too large a directory."""
    try:
        entries, directory_bytes = _central_directory(path)
    except (OSError, struct.error, ValueError) as exc:
        raise ArchiveRefused("bad-archive", f"not a readable zip archive ({_reason(exc)})") from None
    if entries > limits.max_members:
        raise _too_many(entries, limits)
    if directory_bytes > limits.max_members * CENTRAL_DIRECTORY_BYTES_PER_MEMBER:
        raise ArchiveRefused("too-many-members", f"its central directory is larger than {limits.max_members} "
                                                 "members need")


def _central_directory(path: Path) -> tuple[int, int]:
    """(entries, bytes) of the central directory from the end record, Zip64 where it says so."""
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        tail_start = max(0, size - EOCD.size - 0xFFFF)  # the record ends with a comment of up to 64 KiB
        handle.seek(tail_start)
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < EOCD.size:
            raise ValueError("no end of central directory record: truncated or not a zip")
        _, _, _, _, entries, directory_bytes, _, _ = EOCD.unpack_from(tail, at)
        if entries != 0xFFFF and directory_bytes != 0xFFFFFFFF:
            return entries, directory_bytes
        locator_at = tail_start + at - ZIP64_LOCATOR.size
        handle.seek(max(0, locator_at))
        signature, _, zip64_at, _ = ZIP64_LOCATOR.unpack(handle.read(ZIP64_LOCATOR.size))
        if signature != b"PK\x06\x07":
            return entries, directory_bytes
        handle.seek(zip64_at)
        record = ZIP64_EOCD.unpack(handle.read(ZIP64_EOCD.size))
        if record[0] != b"PK\x06\x06":
            raise ValueError("broken Zip64 end of central directory record")
        return record[7], record[8]


def _too_many(count: int, limits: ArchiveLimits) -> ArchiveRefused:
    return ArchiveRefused("too-many-members", f"{count} members, more than the limit of {limits.max_members}")


def _reason(exc: Exception) -> str:
    """An exception's message; an OSError's names a path on this server, so only its type is told."""
    return type(exc).__name__ if isinstance(exc, OSError) else str(exc)


def _size(n: int) -> str:
    return f"{n / MiB:g} MiB"
