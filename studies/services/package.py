"""A study's submission package: one zip with everything a regulator reviews, and its verification.

The files come from :data:`studies.services.package_parts.PARTS`, in that order. Beside them the archive
holds ``manifest.json`` (each file's path, size, SHA-256 and what it is) and ``MANIFEST.sha256`` (the
SHA-256 of every other file, ``sha256sum -c`` compatible once unpacked); the zip's comment seals
``MANIFEST.sha256`` with its own SHA-256, so that a change to it is told from a change to a file.

The same data gives the same bytes: members in a fixed order, each stamped with the analysis run's finish
time, mode 0644, deflated at a fixed level, and files that depend on the stored data only. Building the
package changes nothing; taking it out (:func:`export_package`) is audit-logged.
"""

import hashlib
import io
import json
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC

from django.db import connection, transaction

from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import AnalysisRun, Study, User
from studies.permissions import Action, require
from studies.services import audit
from studies.services.package_parts import PACKAGE_ENTITY, PARTS, PackageFile, PackageSource, Pseudonyms, json_bytes

MANIFEST = "MANIFEST.sha256"
DESCRIPTION = "manifest.json"
SEAL_PREFIX = "MANIFEST.sha256 SHA-256 "
COMPRESSION_LEVEL = 6
FILE_MODE = 0o100644  # a regular file, rw-r--r--
EARLIEST_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # zip times start in 1980
ReportFiles = Callable[[AnalysisRun], list[PackageFile]]  # a run's report as package files
REQUIRED_ACTIONS = (Action.VIEW_READS, Action.VIEW_TRUTH, Action.VIEW_AI_OUTPUTS)  # what the package shows


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def reported_run(study: Study, run_id: int | None = None) -> AnalysisRun:
    """The analysis run a package reports: ``run_id``, or the study's latest successful run."""
    runs = study.analysis_runs.filter(status=AnalysisRun.Status.SUCCEEDED)
    if run_id is not None:
        run = study.analysis_runs.filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"study {study.pk} has no analysis run {run_id}")
        if run.status != AnalysisRun.Status.SUCCEEDED:
            raise RuleViolation(f"analysis run {run_id} has no results ({run.status}): choose a run that succeeded")
        return run
    run = runs.order_by("-finished_at", "-id").first()
    if run is None:
        raise RuleViolation(f"study {study.pk} has no successful analysis run: analyse the study before packaging it")
    return run


def package_filename(study: Study, run: AnalysisRun) -> str:
    return f"study-{study.pk}-run-{run.pk}-submission-package.zip"


def build_package(*, study: Study, run: AnalysisRun, report_files: ReportFiles) -> bytes:
    """The package's bytes, from the study's data as it is (read in one transaction); ``report_files`` renders
    the run's report (:func:`studies.reports.package.report_files`)."""
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:  # every part reads the data as of one instant
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        source = PackageSource(study=study, run=run, pseudonyms=Pseudonyms(study), report_files=report_files)
        files = [file for part in PARTS for file in part.files(source)]
    return _archive(files, _zip_time(run))


def export_package(*, actor: User, study: Study, report_files: ReportFiles, run_id: int | None = None
                   ) -> tuple[str, bytes]:
    """The package of ``study`` for ``actor`` (who must see its reads, truth and AI outputs), audit-logged as
    a download: its file name and bytes."""
    for action in REQUIRED_ACTIONS:
        require(actor, action, study)
    run = reported_run(study, run_id)
    content = build_package(study=study, run=run, report_files=report_files)
    filename = package_filename(study, run)
    audit.record_download(actor=actor, study_id=study.pk, filename=filename, entity=PACKAGE_ENTITY, entity_id=run.pk)
    return filename, content


def _zip_time(run: AnalysisRun) -> tuple[int, ...]:
    """The run's finish time in UTC, to the even second below (zip keeps times in 2-second steps)."""
    finished = run.finished_at.astimezone(UTC)
    finished = finished.replace(second=finished.second - finished.second % 2)
    return max(EARLIEST_ZIP_TIME, finished.timetuple()[:6])


def _archive(files: list[PackageFile], when: tuple[int, ...]) -> bytes:
    paths = [file.path for file in files]
    if len(set(paths)) != len(paths) or {MANIFEST, DESCRIPTION} & set(paths):
        raise ValueError(f"package parts give clashing file names: {sorted(paths)}")
    description = {"files": [{"path": file.path, "size": len(file.content), "sha256": _sha256(file.content),
                              "description": file.description} for file in files]}
    files = [*files, PackageFile(DESCRIPTION, json_bytes(description), "What each file of the package is")]
    manifest = "".join(f"{_sha256(file.content)}  {file.path}\n" for file in sorted(files, key=lambda f: f.path))
    files.append(PackageFile(MANIFEST, manifest.encode(), "SHA-256 of every other file"))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for file in files:
            info = zipfile.ZipInfo(file.path, date_time=when)
            info.create_system = 3  # Unix, so that the mode below is read as one
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.content, compresslevel=COMPRESSION_LEVEL)
        archive.comment = (SEAL_PREFIX + _sha256(manifest.encode())).encode()
    return out.getvalue()


# ---------------------------------------------------------------- verification


@dataclass
class PackageVerification:
    files: int = 0
    problems: dict[str, str] = field(default_factory=dict)  # file name -> what is wrong with it

    @property
    def intact(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [f"{name}: {problem}" for name, problem in sorted(self.problems.items())]


def verify_package(data: bytes) -> PackageVerification:
    """Check every file of a package against ``MANIFEST.sha256``, and that file against its seal.

    Names each file whose SHA-256 differs, that is listed but missing, or that is present but not listed.
    Where ``MANIFEST.sha256`` itself was changed (its seal differs), the files are checked against
    ``manifest.json`` instead, so that only the manifest is named. A file that is not a zip: InvalidInput.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
            comment = archive.comment.decode("ascii", "replace")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as exc:
        raise InvalidInput(f"not a readable zip archive ({exc})") from None
    result = PackageVerification()
    if MANIFEST not in members:
        result.problems[MANIFEST] = "missing: the package has no manifest"
        return result
    expected = _manifest_hashes(members[MANIFEST], result)
    sealed = comment.removeprefix(SEAL_PREFIX) if comment.startswith(SEAL_PREFIX) else None
    if sealed != _sha256(members[MANIFEST]):
        result.problems[MANIFEST] = ("altered: its SHA-256 is not the one sealed in the archive's comment"
                                     if sealed else "unsealed: the archive's comment does not hold its SHA-256")
        described = _described_hashes(members.get(DESCRIPTION))
        if described:  # manifest.json does not list itself: it stands as it is
            expected = {**described, DESCRIPTION: _sha256(members[DESCRIPTION])}
    files = {name: content for name, content in members.items() if name != MANIFEST}
    result.files = len(files)
    for name in sorted(expected.keys() | files.keys()):
        if name not in files:
            result.problems[name] = "missing: listed in the manifest but not in the package"
        elif name not in expected:
            result.problems[name] = "extra: in the package but not in the manifest"
        elif _sha256(files[name]) != expected[name]:
            result.problems[name] = "altered: its SHA-256 does not match the manifest"
    return result


def _manifest_hashes(content: bytes, result: PackageVerification) -> dict[str, str]:
    hashes = {}
    for number, line in enumerate(content.decode("utf-8", "replace").splitlines(), start=1):
        digest, separator, name = line.partition("  ")
        if not separator or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or not name:
            result.problems[MANIFEST] = f"malformed: line {number} is not '<sha256>  <file>'"
            continue
        hashes[name] = digest
    return hashes


def _described_hashes(content: bytes | None) -> dict[str, str]:
    """The hashes ``manifest.json`` gives (it is itself listed in the manifest, so this is a fallback)."""
    try:
        return {item["path"]: item["sha256"] for item in json.loads(content or b"")["files"]}
    except (ValueError, KeyError, TypeError):
        return {}
