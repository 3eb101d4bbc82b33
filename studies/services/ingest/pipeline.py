"""DICOM ingest: parse, de-identify (PS3.15 E.1), clean burned-in text, sanitize, store, link to cases.

Every file is handled on its own: whatever goes wrong with one (a limit, a parser error, a
conflict) rejects it with a reason class and the rest go in, and a file is indexed and stored
entirely or not at all. UIDs are replaced with a keyed hash (:func:`mrmc.dicom.deid.remap_uid`)
under a key derived per study from ``settings.DEID_KEY``, so importing the same files again
finds the same new UIDs and stores nothing, and a case that names the original
StudyInstanceUID still links.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError
from pydicom.dataset import Dataset

from mrmc.dicom.archive import ArchiveRefused
from mrmc.dicom.characteristics import DEFAULT_AGE_BANDS, coarse_attributes
from mrmc.dicom.deid import check_identified, deidentify, remap_uid
from mrmc.dicom.limits import DicomLimits
from mrmc.dicom.parse import InvalidDicom, read_instance, write_instance
from mrmc.dicom.pixel_cleaning import PixelCleaningRule, clean_pixels, find_rule, parse_rules
from mrmc.dicom.sanitize import sanitize
from studies.errors import InvalidInput, RuleViolation
from studies.models import Study, User
from studies.permissions import Action, require

from .image_stores import ImageArchiveUnavailable, image_store
from .keys import deid_key_for, keyed_hash
from .linking import CASE_ATTRIBUTES, link_cases
from .report import IngestReport, Problem, StoredInstance
from .sources import DicomSource, Rejected, count_sources, dicom_limits, file_sources, named_paths
from .store import Conflict, ImageStore, is_duplicate, store_instance

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 2.0  # a 10,000-member archive writes its progress a few times, not 10,000


def ingest(
    *,
    actor: User,
    study: Study,
    sources: Iterable[DicomSource],
    deidentify_files: bool = True,
    study_instance_uid: str | None = None,
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
    study_instance_uid
        Take only instances of this DICOM study, named by its UID as sent or as stored
        (STOW-RS to ``/studies/{uid}``, PS3.18 10.5); the others are rejected (``other-dicom-study``).
    total, progress
        Number of sources, and a callback getting the fraction done and a message (called
        at most every few seconds, and after the last file).
    """
    require_images_may_be_added(actor=actor, study=study)
    report = IngestReport()
    context = _Context(study, deid_key_for(study), deidentify_files, parse_rules(study.pixel_cleaning), dicom_limits(),
                       image_store(), study_instance_uid, age_bounds(study))
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


def age_bounds(study: Study) -> tuple[int, ...]:
    """The lower bounds of the age bands recorded from ``study``'s images: its population's ``age_bands``
    (:mod:`studies.services.case_mix`), else the default ones."""
    return tuple((study.population or {}).get("age_bands") or DEFAULT_AGE_BANDS)


def require_images_may_be_added(*, actor: User, study: Study) -> None:
    """Those who may change the study add images to it, until it is locked."""
    require(actor, Action.CHANGE_STUDY, study)
    if study.status in (Study.Status.LOCKED, Study.Status.ANALYZED):
        raise RuleViolation(f"the study is {study.status}; images can no longer be added")


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


@dataclass(frozen=True)
class _Context:
    study: Study
    key: bytes
    deidentify_files: bool
    pixel_rules: Sequence[PixelCleaningRule]
    limits: DicomLimits
    store: ImageStore
    study_instance_uid: str | None = None
    age_bands: tuple[int, ...] = DEFAULT_AGE_BANDS


def _ingest_source(context: _Context, name: str, read: Callable[[], bytes], report: IngestReport) -> None:
    """Ingest one file; any failure but the database's becomes a rejection with a reason class."""
    try:
        _ingest_one(context, name, read, report)
    except Conflict as exc:
        report.conflicts.append(Problem(name, exc.kind, str(exc)))
    except (Rejected, InvalidDicom, ArchiveRefused) as exc:
        report.rejected.append(Problem(name, exc.kind, str(exc)))
    except DatabaseError:
        raise  # not the file's fault: the job fails and can be run again
    except ImageArchiveUnavailable as exc:  # likewise; cases are linked only once every file is in
        raise ImageArchiveUnavailable(
            f"{exc} while storing {name}; the files stored before it ({report.stored}) are kept and no case was "
            "linked: import again once the archive answers (what is stored counts as already present)") from None
    except Exception as exc:  # a parser or codec bug must not stop the other files
        # the file's name may carry a patient's name: the log points at the import report's entry instead
        log.exception("ingest failed for the file of rejection %d in the import report", len(report.rejected) + 1)
        report.rejected.append(Problem(name, "unreadable", f"could not be processed ({type(exc).__name__})"))


def _ingest_one(context: _Context, name: str, read: Callable[[], bytes], report: IngestReport) -> None:
    parsed = read_instance(read(), limits=context.limits)  # the bytes read are freed once parsed
    report.received[name] = (parsed.sop_class_uid, parsed.sop_instance_uid)
    _check_dicom_study(context, parsed.study_instance_uid)
    ds = parsed.dataset
    accession_hash = keyed_hash(parsed.accession_number, context.key)
    pixel_rule = find_rule(ds, context.pixel_rules)  # matched on the attributes as received
    case_attributes = coarse_attributes(ds, age_bands=context.age_bands)  # for the case record, before they go
    deid = _deidentify(ds, context.key) if context.deidentify_files else {}
    if case_attributes:
        deid[CASE_ATTRIBUTES] = case_attributes
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
    kept_as = StoredInstance(name, stored.study_instance_uid, stored.series_instance_uid, stored.sop_class_uid,
                             stored.sop_instance_uid)
    if is_duplicate(study=context.study, stored=stored, sha256=sha256, store=context.store):
        report.duplicates += 1
        report.studies.add(stored.study_instance_uid)
        report.instances.append(kept_as)
        return
    store_instance(study=context.study, stored=stored, data=data, sha256=sha256, accession_hash=accession_hash,
                   deid=deid, fixes=fixes, store=context.store)
    report.stored += 1
    report.studies.add(stored.study_instance_uid)
    report.instances.append(kept_as)
    if fixes:
        report.sanitized[stored.sop_instance_uid] = fixes
    if pixel_rule is not None:
        report.cleaned[stored.sop_instance_uid] = [list(region) for region in pixel_rule.regions]


def _check_dicom_study(context: _Context, study_instance_uid: str) -> None:
    """Refuse an instance of another DICOM study than the one asked for, if one was."""
    wanted = context.study_instance_uid
    if wanted is None:
        return
    as_stored = remap_uid(study_instance_uid, context.key) if context.deidentify_files else study_instance_uid
    if wanted not in (study_instance_uid, as_stored):
        raise Rejected("other-dicom-study", "its StudyInstanceUID is not the one of the DICOM study it was sent to")


def _deidentify(ds: Dataset, key: bytes) -> dict:
    record = deidentify(ds, key=key)
    return {"method": list(record.method), "options": list(record.options)}
