"""Linking stored DICOM studies to the study's cases: by UID, by accession number or by a mapping file."""

import csv
import io

from django.db import transaction

from mrmc.dicom.deid import remap_uid
from studies.errors import InvalidInput
from studies.models import Case, DicomStudy, Study

from .keys import deid_key_for, keyed_hash

LINK_COLUMNS = ("study_instance_uid", "accession_number")
# Key of DicomStudy.deidentification under which ingest keeps the coarse attributes read before
# de-identification (mrmc.dicom.characteristics; those of the DICOM study's first instance stored), until
# linking copies them to the case.
CASE_ATTRIBUTES = "case_attributes"


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
    """Both saves are audited (signals), with the UID and the acquisition attributes before and after.

    The case takes the coarse attributes its images carried (age band, sex, equipment), over any it had.
    """
    changed = []
    if case.study_instance_uid != dicom_study.study_instance_uid:
        case.study_instance_uid = dicom_study.study_instance_uid
        changed.append("study_instance_uid")
    attributes = {**case.acquisition, **dicom_study.deidentification.get(CASE_ATTRIBUTES, {})}
    if attributes != case.acquisition:
        case.acquisition = attributes
        changed.append("acquisition")
    if changed:
        case.save(update_fields=changed)
    dicom_study.case = case
    dicom_study.save(update_fields=["case"])
