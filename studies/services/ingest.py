"""DICOM ingest: parse, de-identify (PS3.15 E.1), sanitize, store content-addressed, index, link to cases.

Every file is handled on its own: whatever goes wrong with one (a limit, a parser error, a
conflict) rejects it with a reason class and the rest go in, and a file is indexed and stored
entirely or not at all. UIDs are replaced with a keyed hash (:func:`mrmc.dicom.deid.remap_uid`)
under a key derived per study from ``settings.DEID_KEY``, so importing the same files again
finds the same new UIDs and stores nothing, and a case that names the original
StudyInstanceUID still links.
"""

import csv
import hashlib
import hmac
import io
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, transaction
from pydicom.dataset import Dataset

from mrmc.dicom.archive import ArchiveRefused
from mrmc.dicom.deid import check_identified, deidentify, remap_uid
from mrmc.dicom.frames import native_frame_layout
from mrmc.dicom.limits import DicomLimits
from mrmc.dicom.parse import InvalidDicom, ParsedInstance, read_instance, write_instance
from mrmc.dicom.pixel_cleaning import PixelCleaningRule, clean_pixels, find_rule, parse_rules
from mrmc.dicom.sanitize import sanitize
from mrmc.dicom.storage import ContentStore
from studies.errors import InvalidInput, RuleViolation
from studies.models import Case, DicomInstance, DicomSeries, DicomStudy, Job, Study, User
from studies.permissions import Action, require
from studies.services import audit, jobs
from studies.services.ingest_sources import (
    DicomSource,
    Rejected,
    check_upload_size,
    count_sources,
    dicom_limits,
    file_sources,
    named_paths,
    refusal,
    remove_staging,
    stage_uploads,
)

log = logging.getLogger(__name__)

MAX_REPORTED_PROBLEMS = 200
PROGRESS_INTERVAL_S = 2.0  # a 10,000-member archive writes its progress a few times, not 10,000
LINK_COLUMNS = ("study_instance_uid", "accession_number")


def content_store() -> ContentStore:
    return ContentStore(settings.DICOM_STORAGE)


def deid_key_for(study: Study) -> bytes:
    """The study's own de-identification key: different studies get unlinkable UIDs."""
    return hmac.new(settings.DEID_KEY.encode(), f"study:{study.pk}".encode(), hashlib.sha256).digest()


def keyed_hash(value: str, key: bytes) -> str:
    return hmac.new(key, value.strip().encode(), hashlib.sha256).hexdigest() if value.strip() else ""


class Problem(NamedTuple):
    """A file left out: its name in the upload or archive, a reason class and the reason."""

    file: str
    kind: str
    reason: str

    def as_dict(self) -> dict:
        return self._asdict()


@dataclass
class IngestReport:
    """What one ingest did: every file is stored, a duplicate, a conflict or rejected."""

    stored: int = 0
    duplicates: int = 0
    conflicts: list[Problem] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)
    sanitized: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, list[list[int]]] = field(default_factory=dict)  # SOP UID -> regions blacked out
    linked: dict[str, str] = field(default_factory=dict)  # case label -> StudyInstanceUID

    @property
    def files(self) -> int:
        return self.stored + self.duplicates + len(self.conflicts) + len(self.rejected)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "conflicts": [p.as_dict() for p in self.conflicts[:MAX_REPORTED_PROBLEMS]],
            "conflict_count": len(self.conflicts),
            "rejected": [p.as_dict() for p in self.rejected[:MAX_REPORTED_PROBLEMS]],
            "rejected_count": len(self.rejected),
            "studies": sorted(self.studies),
            "sanitized": self.sanitized,
            "cleaned": self.cleaned,
            "linked": self.linked,
        }


class Conflict(Rejected):
    """The file's SOP Instance UID is stored already, with other content or in another study."""


# ------------------------------------------------------------------ ingest


def ingest(
    *,
    actor: User,
    study: Study,
    sources: Iterable[DicomSource],
    deidentify_files: bool = True,
    total: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> IngestReport:
    """Store every readable instance of ``sources`` in ``study`` and link new DICOM studies to cases.

    Parameters
    ----------
    deidentify_files
        Apply the PS3.15 Basic profile (the default). Without it, files that still carry
        patient name, ID or birth date are refused unless the study allows identified data.
        Either way, images that a rule of ``study.pixel_cleaning`` matches have its regions
        blacked out (:mod:`mrmc.dicom.pixel_cleaning`); images marked Burned In Annotation
        YES that no rule matches are refused unless the study allows identified data.
    total, progress
        Number of sources, and a callback getting the fraction done and a message (called
        at most every few seconds, and after the last file).
    """
    require(actor, Action.CHANGE_STUDY, study)
    if study.status in (Study.Status.LOCKED, Study.Status.ANALYZED):
        raise RuleViolation(f"the study is {study.status}; images can no longer be added")
    report = IngestReport()
    context = _Context(study, deid_key_for(study), deidentify_files, parse_rules(study.pixel_cleaning), dicom_limits())
    last_progress = time.monotonic()
    for done, (name, read) in enumerate(sources, start=1):
        _ingest_source(context, name, read, report)
        if progress and time.monotonic() - last_progress >= PROGRESS_INTERVAL_S:
            progress(done / total if total else 0.0, f"{done} of {total or '?'} files")
            last_progress = time.monotonic()
    if progress:
        progress(1.0, f"{report.files} of {report.files} files")
    report.linked = link_cases(study=study)
    return report


@dataclass(frozen=True)
class _Context:
    study: Study
    key: bytes
    deidentify_files: bool
    pixel_rules: Sequence[PixelCleaningRule]
    limits: DicomLimits


def _ingest_source(context: _Context, name: str, read: Callable[[], bytes], report: IngestReport) -> None:
    """Ingest one file; any failure but the database's becomes a rejection with a reason class."""
    try:
        _ingest_one(context, read, report)
    except Conflict as exc:
        report.conflicts.append(Problem(name, exc.kind, str(exc)))
    except (Rejected, InvalidDicom, ArchiveRefused) as exc:
        report.rejected.append(Problem(name, exc.kind, str(exc)))
    except DatabaseError:
        raise  # not the file's fault: the job fails and can be run again
    except Exception as exc:  # a parser or codec bug must not stop the other files
        log.exception("ingest of %s failed", name)
        report.rejected.append(Problem(name, "unreadable", f"could not be processed ({type(exc).__name__})"))


def _ingest_one(context: _Context, read: Callable[[], bytes], report: IngestReport) -> None:
    parsed = read_instance(read(), limits=context.limits)  # the bytes read are freed once parsed
    ds = parsed.dataset
    accession_hash = keyed_hash(parsed.accession_number, context.key)
    pixel_rule = find_rule(ds, context.pixel_rules)  # matched on the attributes as received
    deid = _deidentify(ds, context.key) if context.deidentify_files else {}
    if pixel_rule is not None:
        try:
            clean_pixels(ds, pixel_rule)
        except ValueError as exc:
            raise Rejected("pixel-cleaning", f"burned-in text not removed: {exc}") from None
    identified = check_identified(ds)
    if identified and not context.study.allow_identified_data:
        raise Rejected("identified", f"still carries {', '.join(identified)}; "
                                     "this study does not allow identified data")
    fixes = [*parsed.fixes, *sanitize(ds)]  # VRs re-encoded and data sets inflated while reading, then repairs
    data = write_instance(ds)
    del ds, parsed
    stored = read_instance(data, limits=context.limits)  # the index describes exactly the bytes stored
    sha256 = hashlib.sha256(data).hexdigest()
    if _is_duplicate(context.study, stored, sha256):
        report.duplicates += 1
        report.studies.add(stored.study_instance_uid)
        return
    dicom_study = DicomStudy.objects.filter(study_instance_uid=stored.study_instance_uid).first()
    if dicom_study is not None:
        _check_same_study(dicom_study, context.study)
    with transaction.atomic():  # the file is written last: if that fails, no row remains
        _index(context.study, stored, sha256, len(data), accession_hash, deid, fixes, native_frame_layout(data))
        content_store().put(data)
    report.stored += 1
    report.studies.add(stored.study_instance_uid)
    if fixes:
        report.sanitized[stored.sop_instance_uid] = fixes
    if pixel_rule is not None:
        report.cleaned[stored.sop_instance_uid] = [list(region) for region in pixel_rule.regions]


def _is_duplicate(study: Study, stored: ParsedInstance, sha256: str) -> bool:
    """True when these exact bytes are stored already; a conflict when the UID is, with other content."""
    existing = (DicomInstance.objects.filter(sop_instance_uid=stored.sop_instance_uid)
                .select_related("series__dicom_study").first())
    if existing is None:
        return False
    _check_same_study(existing.series.dicom_study, study)
    if existing.sha256 == sha256:
        return True
    raise Conflict("conflict", f"SOP Instance UID {stored.sop_instance_uid} is already stored with "
                               f"{_difference(existing, stored)}; the stored instance is kept")


def _difference(existing: DicomInstance, stored: ParsedInstance) -> str:
    try:
        with content_store().open(existing.sha256) as handle:
            kept = read_instance(handle.read()).dataset
    except (OSError, InvalidDicom):
        return "different content"
    same_pixels = kept.get("PixelData") == stored.dataset.get("PixelData")
    return "different attributes" if same_pixels else "different pixel data"


def _check_same_study(dicom_study: DicomStudy, study: Study) -> None:
    if dicom_study.study_id != study.pk:
        raise Conflict(
            "other-study",
            f"DICOM study {dicom_study.study_instance_uid} is already stored for study {dicom_study.study_id}",
        )


def _deidentify(ds: Dataset, key: bytes) -> dict:
    record = deidentify(ds, key=key)
    return {"method": list(record.method), "options": list(record.options)}


@transaction.atomic
def _index(study, parsed: ParsedInstance, sha256, size, accession_hash, deid, fixes, layout) -> DicomInstance:
    dicom_study, created = DicomStudy.objects.select_for_update().get_or_create(
        study_instance_uid=parsed.study_instance_uid,
        defaults={
            "study": study,
            "accession_hash": accession_hash,
            "patient_id": parsed.patient_id[:64],
            "accession_number": parsed.accession_number[:64],
            "study_date": parsed.study_date[:8],
            "study_description": parsed.study_description[:64],
            "deidentification": deid,
        },
    )
    modalities = "\\".join(sorted({*dicom_study.modalities.split("\\"), parsed.modality} - {""}))
    if modalities != dicom_study.modalities:
        dicom_study.modalities = modalities
        dicom_study.save(update_fields=["modalities"])
    series, _ = DicomSeries.objects.get_or_create(
        series_instance_uid=parsed.series_instance_uid,
        defaults={
            "dicom_study": dicom_study,
            "modality": parsed.modality[:16],
            "series_number": parsed.series_number,
            "series_description": parsed.series_description[:64],
        },
    )
    offset, frame_length = layout or (None, None)
    instance, _ = DicomInstance.objects.get_or_create(
        sop_instance_uid=parsed.sop_instance_uid,
        defaults={
            "series": series,
            "sop_class_uid": parsed.sop_class_uid,
            "transfer_syntax_uid": parsed.transfer_syntax_uid,
            "instance_number": parsed.instance_number,
            "rows": parsed.rows,
            "columns": parsed.columns,
            "number_of_frames": parsed.number_of_frames,
            "pixel_data_offset": offset,
            "frame_length": frame_length,
            "sha256": sha256,
            "size": size,
            "sanitize_fixes": fixes,
        },
    )
    return instance


# ------------------------------------------------------------------ linking


def parse_link_mapping(data: bytes) -> dict[str, tuple[str, str]]:
    """A mapping CSV ``case,study_instance_uid`` or ``case,accession_number`` → {case: (column, value)}."""
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    except UnicodeDecodeError:
        raise InvalidInput("the mapping file is not UTF-8 text") from None
    header = set(rows[0]) if rows else set()
    column = next((name for name in LINK_COLUMNS if name in header), None)
    if "case" not in header or column is None:
        raise InvalidInput("the mapping file needs columns case and study_instance_uid or accession_number", line=1)
    return {row["case"].strip(): (column, (row[column] or "").strip()) for row in rows if row["case"]}


@transaction.atomic
def link_cases(*, study: Study, mapping: dict[str, tuple[str, str]] | None = None) -> dict[str, str]:
    """Link the study's unlinked DICOM studies to its cases; returns {case label: StudyInstanceUID}.

    A case matches by its StudyInstanceUID (original or de-identified), by AccessionNumber
    (compared as keyed hashes, the original is not kept), or by a row of ``mapping``. The
    case then names the served (de-identified) UID, which is what the viewer requests.
    """
    key = deid_key_for(study)
    unlinked = list(DicomStudy.objects.select_for_update().filter(study=study, case__isnull=True))
    if not unlinked:
        return {}
    by_uid = {ds.study_instance_uid: ds for ds in unlinked}
    by_accession = {ds.accession_hash: ds for ds in unlinked if ds.accession_hash}
    linked = {}
    for case in study.cases.select_for_update(of=("self",)).filter(dicom_study__isnull=True):
        uid, accession = _link_keys(case, mapping or {})
        dicom_study = _find_dicom_study(uid, accession, key, by_uid, by_accession)
        if dicom_study is None:
            continue
        _link(case, dicom_study)
        del by_uid[dicom_study.study_instance_uid]
        linked[case.label] = dicom_study.study_instance_uid
    return linked


def _link_keys(case: Case, mapping: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(StudyInstanceUID, AccessionNumber) to look for: the mapping row's, else the case's own."""
    column, value = mapping.get(case.label, ("", ""))
    if column == "study_instance_uid":
        return value, ""
    if column == "accession_number":
        return "", value
    return case.study_instance_uid, case.accession_number


def _find_dicom_study(uid, accession, key, by_uid, by_accession) -> DicomStudy | None:
    if uid:
        found = by_uid.get(uid) or by_uid.get(remap_uid(uid, key))
        if found:
            return found
    found = by_accession.get(keyed_hash(accession, key)) if accession else None
    return found if found and found.study_instance_uid in by_uid else None


def _link(case: Case, dicom_study: DicomStudy) -> None:
    """Both saves are audited (signals), with the UID before and after."""
    if case.study_instance_uid != dicom_study.study_instance_uid:
        case.study_instance_uid = dicom_study.study_instance_uid
        case.save(update_fields=["study_instance_uid"])
    dicom_study.case = case
    dicom_study.save(update_fields=["case"])


# ---------------------------------------------------------------- entry points


def ingest_paths(*, actor: User, study: Study, paths: list[str], deidentify_files: bool = True,
                 progress: Callable[[float, str], None] | None = None) -> IngestReport:
    """Ingest files, folders and zip archives given by an operator (``manage.py import_dicom``)."""
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise InvalidInput(f"no such file or folder: {', '.join(missing[:5])}")
    return ingest_files(actor=actor, study=study, files=named_paths(paths), deidentify_files=deidentify_files,
                        progress=progress)


def ingest_files(*, actor: User, study: Study, files: list[tuple[str, Path]], deidentify_files: bool = True,
                 progress: Callable[[float, str], None] | None = None) -> IngestReport:
    """Ingest (name shown in the report, path) pairs: files, folders and zip archives."""
    return ingest(actor=actor, study=study, sources=file_sources(files), deidentify_files=deidentify_files,
                  total=count_sources(files), progress=progress)


def dicom_sources(paths: Iterable[str | Path]) -> Iterator[DicomSource]:
    """Every file under ``paths`` (files, folders, zip archives), each named by its own name."""
    return file_sources(named_paths(paths))


def run_ingest_job(job) -> dict:
    """Job ``ingest_dicom``: params ``files`` ([upload name, staged path] pairs), ``staging`` (their
    folder, removed afterwards whatever happens), optional ``deidentify`` and ``mapping`` (CSV text)."""
    params = job.params
    try:
        with audit.context(user=job.created_by):
            report = ingest_files(
                actor=job.created_by, study=job.study, files=[(name, Path(path)) for name, path in params["files"]],
                deidentify_files=params.get("deidentify", True),
                progress=lambda fraction, message: jobs.report_progress(job, fraction, message),
            )
            if params.get("mapping"):
                report.linked |= link_cases(study=job.study, mapping=parse_link_mapping(params["mapping"].encode()))
    finally:
        remove_staging(params["staging"])
    return report.as_dict()


def pull_from_dicomweb(*, actor: User, study: Study, url: str, study_uids: list[str],
                       deidentify_files: bool = True, session=None) -> IngestReport:
    """Retrieve whole studies (WADO-RS, PS3.18 10.4) from a DICOMweb server and ingest them;
    a study the server does not deliver is reported as rejected, the others go in."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(url, session=session)

    def sources() -> Iterator[DicomSource]:
        for uid in study_uids:
            try:
                for index, ds in enumerate(client.iter_study(uid), start=1):
                    yield f"study {uid} #{index}", lambda ds=ds: write_instance(ds)
            except (requests.RequestException, ValueError) as exc:  # the server's answer, not ours
                failure = Rejected("retrieve-failed", f"could not be retrieved ({type(exc).__name__})")
                yield f"study {uid}", refusal(failure)

    return ingest(actor=actor, study=study, sources=sources(), deidentify_files=deidentify_files)


def start_upload(*, actor: User, study: Study, uploads: list, mapping: bytes | None = None) -> Job:
    """Stage uploaded files (DICOM or zip) next to the store and queue an ``ingest_dicom`` job."""
    require(actor, Action.CHANGE_STUDY, study)
    if not uploads:
        raise InvalidInput("attach DICOM files or zip archives as 'files'", field="files")
    check_upload_size(sum(upload.size or 0 for upload in uploads))
    if mapping is not None:
        parse_link_mapping(mapping)  # a broken mapping fails now, not in the background
    staging, files = stage_uploads(uploads)
    params = {"files": files, "staging": str(staging), "mapping": mapping.decode("utf-8-sig") if mapping else ""}
    try:
        return jobs.enqueue(kind="ingest_dicom", actor=actor, study=study, params=params)
    except BaseException:
        remove_staging(str(staging))
        raise
