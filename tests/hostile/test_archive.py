"""Zip archives read within limits (mrmc.dicom.archive), whatever their headers claim."""

import io
import stat
import zipfile

import pytest

from mrmc.dicom.archive import ArchiveLimits, ArchiveRefused, looks_like_zip, member_problem, zip_members


def make_zip(path, members, **info_fields):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            for field, value in info_fields.items():
                setattr(info, field, value)
            archive.writestr(info, data)
    return path


def read_all(path, limits):
    """(member name, bytes or the refusal's kind) for every member."""
    results = []
    for member in zip_members(path, limits):
        try:
            results.append((member.name, member.read()))
        except ArchiveRefused as exc:
            results.append((member.name, exc.kind))
    return results


@pytest.mark.parametrize("name, problem", [
    ("a/b.dcm", None),
    ("a/../../b.dcm", "climbs out"),
    ("..", "climbs out"),
    ("/etc/passwd", "absolute"),
    ("c:/windows/x.dcm", "absolute"),
    ("a\\..\\..\\b.dcm", "backslash"),
    ("a.dcm\x00.txt", "NUL"),
])
def test_unsafe_member_names_are_named(name, problem):
    info = zipfile.ZipInfo("x")
    info.orig_filename = name
    found = member_problem(info)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("mode, refused", [
    (stat.S_IFREG | 0o644, False), (0, False), (stat.S_IFLNK | 0o777, True), (stat.S_IFBLK | 0o600, True),
    (stat.S_IFSOCK | 0o600, True),
])
def test_only_regular_files_are_read(mode, refused):
    info = zipfile.ZipInfo("x.dcm")
    info.create_system, info.external_attr = 3, mode << 16
    assert (member_problem(info) is not None) == refused


def test_members_after_the_archive_total_are_refused_unread(tmp_path):
    path = make_zip(tmp_path / "a.zip", [(f"{i}.dcm", bytes(400)) for i in range(4)])
    results = read_all(path, ArchiveLimits(max_members=10, max_member_bytes=1000, max_total_bytes=1000))
    assert results == [("0.dcm", bytes(400)), ("1.dcm", bytes(400)), ("2.dcm", "too-large"), ("3.dcm", "too-large")]


def test_a_member_over_the_limit_is_refused_whatever_its_header_says(tmp_path):
    path = make_zip(tmp_path / "a.zip", [("big.dcm", bytes(5000))])
    assert read_all(path, ArchiveLimits(max_member_bytes=4999)) == [("big.dcm", "too-large")]
    assert read_all(path, ArchiveLimits(max_member_bytes=5000)) == [("big.dcm", bytes(5000))]


def test_the_member_count_is_checked_before_the_directory_is_parsed(tmp_path):
    path = make_zip(tmp_path / "a.zip", [(f"{i}", b"") for i in range(11)])
    with pytest.raises(ArchiveRefused, match="11 members, more than the limit of 10") as refused:
        list(zip_members(path, ArchiveLimits(max_members=10)))
    assert refused.value.kind == "too-many-members"


def test_a_directory_larger_than_its_members_need_is_refused(tmp_path):
    path = make_zip(tmp_path / "a.zip", [("x" * 2000, b"")])  # one member with a 2,000-character name
    with pytest.raises(ArchiveRefused, match="central directory is larger") as refused:
        list(zip_members(path, ArchiveLimits(max_members=1)))
    assert refused.value.kind == "too-many-members"


def test_a_zip_archive_inside_a_dicom_preamble_is_dicom():
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x", b"x")
    head = archive.getvalue()[:128].ljust(128, b"\0")
    assert looks_like_zip(archive.getvalue()) and not looks_like_zip(head + b"DICM")
