"""Where ingested files come from: files, folders and zip archives on disk (uploads are staged there).

Each source is (name shown in reports, function returning the bytes). The name is the
file's own name (a folder's name and the path inside it, ``archive.zip:member``), never
the server's path, and ``read`` stops at the configured limits while reading, so an
oversized file or archive member costs at most its limit in memory.
"""

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from mrmc.dicom.archive import ArchiveLimits, ArchiveRefused, looks_like_zip, read_at_most, zip_members
from mrmc.dicom.limits import DicomLimits

# (name shown in reports, function returning the file's bytes)
DicomSource = tuple[str, Callable[[], bytes]]
HEAD_BYTES = 132  # preamble and DICM prefix (PS3.10 7.1), enough to tell DICOM from zip


class Rejected(Exception):
    """One file is left out: ``kind`` classes the reason, the message says it next to the file's name."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def dicom_limits() -> DicomLimits:
    """The configured limits of one instance (``INGEST_*`` settings)."""
    return DicomLimits(
        max_file_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_inflated_bytes=settings.INGEST_MAX_INFLATED_BYTES,
        max_sequence_depth=settings.INGEST_MAX_SEQUENCE_DEPTH,
        max_element_bytes=settings.INGEST_MAX_ELEMENT_BYTES,
        max_elements=settings.INGEST_MAX_ELEMENTS,
        max_pixel_values=settings.INGEST_MAX_PIXEL_VALUES,
    )


def archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.INGEST_MAX_ARCHIVE_MEMBERS,
        max_member_bytes=settings.INGEST_MAX_FILE_BYTES,
        max_total_bytes=settings.INGEST_MAX_ARCHIVE_BYTES,
    )


def named_paths(paths: Iterable[str | Path]) -> list[tuple[str, Path]]:
    """Paths given by an operator, each shown by its last part."""
    return [(Path(path).name or str(path), Path(path)) for path in paths]


def file_sources(files: Iterable[tuple[str, Path]]) -> Iterator[DicomSource]:
    """Every file of ``files`` ((name, path) of files, folders searched recursively, zip archives),
    read one at a time so that an archive of any size never sits whole in memory."""
    limit = settings.INGEST_MAX_FILE_BYTES
    for name, path in files:
        if path.is_dir():
            yield from file_sources((f"{name}/{p.relative_to(path)}", p) for p in sorted(path.rglob("*"))
                                     if p.is_file())
        elif _is_archive(path):
            yield from _archive_sources(name, path)
        else:
            yield name, _file_reader(path, limit)


def dicom_sources(paths: Iterable[str | Path]) -> Iterator[DicomSource]:
    """Every file under ``paths`` (files, folders, zip archives), each named by its own name."""
    return file_sources(named_paths(paths))


def count_sources(files: Iterable[tuple[str, Path]]) -> int:
    """How many sources :func:`file_sources` will give (archives' directories are read, no member)."""
    return sum(1 for _ in file_sources(files))


def _is_archive(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return False  # its reader reports it
    return looks_like_zip(head) or (path.suffix.lower() == ".zip" and head[128:132] != b"DICM")


def _archive_sources(name: str, path: Path) -> Iterator[DicomSource]:
    """Its members, or the archive itself refused (so that every upload appears in the report)."""
    members = 0
    try:
        for member in zip_members(path, archive_limits()):
            members += 1
            yield f"{name}:{member.name}", member.read
    except ArchiveRefused as exc:
        yield name, refusal(exc)
    else:
        if not members:
            yield name, refusal(ArchiveRefused("empty-archive", "the archive holds no files"))


def refusal(exc: Exception) -> Callable[[], bytes]:
    """A source that is reported with ``exc``'s reason instead of being read."""

    def read() -> bytes:
        raise exc

    return read


def _file_reader(path: Path, limit: int) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with path.open("rb") as handle:
                data = None if os.fstat(handle.fileno()).st_size > limit else read_at_most(handle, limit)
        except FileNotFoundError:
            raise Rejected("unreadable", "no such file") from None
        except OSError as exc:
            raise Rejected("unreadable", f"cannot be read ({type(exc).__name__})") from None
        if data is None:
            raise Rejected("too-large", f"larger than {limit >> 20} MiB")
        return data

    return read
