"""The hostile-input corpus: generated files and archives with the outcome ingest must give each.

:func:`archive_cases` makes the archive-level cases (bombs, unsafe members, nesting, damaged
archives) and the duplicate/conflict cases; ``tests/hostile/dicom_corpus.py`` makes the
DICOM-level ones. Cases are listed in the order they must be ingested: a duplicate or a
conflict comes after the file it repeats.
"""

import io
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tests.dicomweb.images import case_datasets

Outcome = Literal["stored", "duplicate", "conflict", "rejected"]
MiB = 1024 * 1024
ZEROS = bytes(MiB)


@dataclass(frozen=True)
class HostileCase:
    """One file or archive of the corpus.

    ``outcome`` is what ingest must report for it (for an archive, for each of its members);
    ``kind`` is the expected reason class of a rejection or conflict (e.g. ``"too-large"``,
    ``"unsafe-member"``), empty when stored or duplicate.
    """

    name: str
    path: Path
    outcome: Outcome
    kind: str = ""


def dicom_bytes(seed: int, change=None) -> bytes:
    """A small valid DX instance; ``change(ds)`` edits it before it is written."""
    ds = case_datasets(seed=seed)[0]
    if change:
        change(ds)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _other_pixels(ds) -> None:
    pixels = ds.pixel_array.copy()
    pixels[:8, :8] = np.iinfo(pixels.dtype).max - pixels[:8, :8]
    ds.PixelData = pixels.tobytes()


def _other_instance_number(ds) -> None:
    ds.InstanceNumber = 99  # kept by de-identification, unlike descriptions


def _just_under_the_limits(ds) -> None:
    """One 5760 x 5760 16-bit frame: 33.2 M pixel values (limit 32 Mi), a 63.3 MiB file (limit 64 MiB)."""
    ds.Rows = ds.Columns = 5760
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ramp = np.arange(5760, dtype=np.uint16)
    ds.PixelData = ((ramp[:, None] + ramp[None, :]) & 0xFFF).tobytes()


def archive_cases(folder: Path) -> list[HostileCase]:
    """Write the archive-level and duplicate cases into ``folder``; returns them in ingest order."""
    folder.mkdir(parents=True, exist_ok=True)
    original = dicom_bytes(seed=41)
    cases = []

    def case(name: str, outcome: Outcome, kind: str, write) -> None:
        path = folder / name
        write(path)
        cases.append(HostileCase(name, path, outcome, kind))

    case("original.dcm", "stored", "", lambda p: p.write_bytes(original))
    case("exact-copy.dcm", "duplicate", "", lambda p: p.write_bytes(original))
    case("same-uid-other-pixels.dcm", "conflict", "conflict", lambda p: p.write_bytes(dicom_bytes(41, _other_pixels)))
    case("same-uid-other-attributes.dcm", "conflict", "conflict",
         lambda p: p.write_bytes(dicom_bytes(41, _other_instance_number)))
    case("good.zip", "stored", "", lambda p: _zip(p, [("case/image.dcm", dicom_bytes(seed=42))]))
    case("largest-accepted.dcm", "stored", "", lambda p: p.write_bytes(dicom_bytes(43, _just_under_the_limits)))
    case("zip-bomb.zip", "rejected", "too-large", _zip_bomb)
    case("zip-bomb-small-size-claimed.zip", "rejected", "not-dicom", _lying_size_bomb)
    case("traversal.zip", "rejected", "unsafe-member", lambda p: _zip(p, [("../../evil.dcm", original)]))
    case("absolute.zip", "rejected", "unsafe-member", lambda p: _zip(p, [("/etc/x.dcm", original)]))
    case("backslash.zip", "rejected", "unsafe-member", lambda p: _zip(p, [("..\\..\\x.dcm", original)]))
    case("drive-letter.zip", "rejected", "unsafe-member", lambda p: _zip(p, [("C:/x.dcm", original)]))
    case("symlink.zip", "rejected", "unsafe-member",
         lambda p: _zip(p, [("link.dcm", b"/etc/passwd")], mode=stat.S_IFLNK | 0o777))
    case("device.zip", "rejected", "unsafe-member",
         lambda p: _zip(p, [("dev.dcm", b"")], mode=stat.S_IFCHR | 0o666))
    case("fifo.zip", "rejected", "unsafe-member", lambda p: _zip(p, [("pipe.dcm", b"")], mode=stat.S_IFIFO | 0o666))
    case("encrypted.zip", "rejected", "unsafe-member", lambda p: _encrypted_zip(p, "secret.dcm", original))
    case("nested.zip", "rejected", "nested-archive",
         lambda p: _zip(p, [("inner.zip", _zip_bytes([("image.dcm", original)]))]))
    case("ten-thousand-members.zip", "rejected", "not-dicom",
         lambda p: _zip(p, [(f"m{i:05d}.dcm", b"") for i in range(10_000)]))
    case("too-many-members.zip", "rejected", "too-many-members",
         lambda p: _zip(p, [(f"m{i:05d}.dcm", b"") for i in range(10_001)]))
    case("truncated.zip", "rejected", "bad-archive",
         lambda p: p.write_bytes(_zip_bytes([("image.dcm", original)])[: len(original) // 2]))
    case("garbage.zip", "rejected", "bad-archive", lambda p: p.write_bytes(os.urandom(4096)))
    case("empty.zip", "rejected", "empty-archive", lambda p: _zip(p, []))
    case("garbage.bin", "rejected", "not-dicom", lambda p: p.write_bytes(os.urandom(4096)))
    case("larger-than-the-limit.dcm", "rejected", "too-large", lambda p: _sparse(p, original, 97 * MiB))
    return cases


def _zip(path: Path, members: list[tuple[str, bytes]], *, mode: int | None = None) -> None:
    path.write_bytes(_zip_bytes(members, mode=mode))


def _encrypted_zip(path: Path, name: str, data: bytes) -> None:
    """A member flagged encrypted (general purpose bit 0, APPNOTE 4.4.4); zipfile cannot write one."""
    archive = bytearray(_zip_bytes([(name, data)]))
    archive[6] |= 0x1  # local file header
    archive[archive.rindex(b"PK\x01\x02") + 8] |= 0x1  # central directory header
    path.write_bytes(bytes(archive))


def _zip_bytes(members: list[tuple[str, bytes]], *, mode: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.create_system = 3
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _zip_bomb(path: Path) -> None:
    """2 GiB + 1 MiB of zeros deflated into one member, about 2 MB on disk, with honest headers."""
    size = (2048 + 1) * MiB
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(ZEROS, crc)
    _one_member_zip(path, "bomb.dcm", _deflated_zeros(size // MiB), size=size, crc=crc)


def _lying_size_bomb(path: Path) -> None:
    """One member whose headers say 1,000 bytes (with the CRC of those) while its data inflate to 1 GiB."""
    _one_member_zip(path, "small.dcm", _deflated_zeros(1024), size=1000, crc=zlib.crc32(bytes(1000)))


def _deflated_zeros(mib: int) -> bytes:
    """A raw deflate stream of ``mib`` MiB of zeros, made from one compressed MiB: a full flush
    resets the compressor, so every flushed MiB compresses to the same bytes."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * mib + compressor.flush()


def _one_member_zip(path: Path, name: str, deflated: bytes, *, size: int, crc: int) -> None:
    """A zip of one deflated member with the given headers (APPNOTE 4.3.7, 4.3.12, 4.3.16)."""
    encoded = name.encode()
    sizes = struct.pack("<3L", crc, len(deflated), size)
    local = struct.pack("<4s5H", b"PK\x03\x04", 20, 0, zipfile.ZIP_DEFLATED, 0, 0x21) + sizes
    local += struct.pack("<2H", len(encoded), 0) + encoded
    central = struct.pack("<4s6H", b"PK\x01\x02", 20, 20, 0, zipfile.ZIP_DEFLATED, 0, 0x21) + sizes
    central += struct.pack("<5H2L", len(encoded), 0, 0, 0, 0, 0, 0) + encoded
    directory_at = len(local) + len(deflated)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), directory_at, 0)
    path.write_bytes(local + deflated + central + end)


def _sparse(path: Path, head: bytes, size: int) -> None:
    """``head`` then zeros up to ``size`` bytes, without writing the zeros."""
    path.write_bytes(head)
    os.truncate(path, size)
