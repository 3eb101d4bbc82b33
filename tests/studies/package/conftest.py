"""An analysed study with everything a submission package holds: readers with names and e-mail addresses, an
invitation in the trail, a truthing panel's labels and adjudication, a protocol change, a deviation and an
excluded case. Built once for the package's tests (each runs in a savepoint of it)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from studies.models import (
    AnalysisRun,
    Case,
    ProtocolDeviation,
    Reader,
    Role,
    Study,
    TruthAdjudication,
    TruthingMember,
    TruthLabel,
    User,
)
from studies.services import analysis, audit, invitations, truthing
from studies.services.demo_analysis import create_read_demo_study
from tests.conftest import create_user, kept_for_scope

READERS = ("ann.morgan@hospital.example", "bo.lindqvist@hospital.example", "chen.wei@hospital.example")
NAMES = {"ann.morgan@hospital.example": ("Annabel", "Morganstern"),
         "bo.lindqvist@hospital.example": ("Borje", "Lindqvist"),
         "chen.wei@hospital.example": ("Chenxiang", "Weiwang")}
TRUTHERS = {"dr.truthful": ("Theodora", "Truthwell", "theodora.truthwell@clinic.example", "E1"),
            "dr.second": ("Secunda", "Secondsworth", "secunda.secondsworth@clinic.example", "E2"),
            "dr.judge": ("Justus", "Adjudicatore", "justus.adjudicatore@clinic.example", "A1")}


@dataclass(frozen=True)
class PackagedStudy:
    study_id: int
    run_id: int
    coordinator_id: int
    statistician_id: int

    @property
    def study(self) -> Study:
        return Study.objects.get(pk=self.study_id)

    @property
    def run(self) -> AnalysisRun:
        return AnalysisRun.objects.get(pk=self.run_id)

    @property
    def coordinator(self) -> User:
        return User.objects.get(pk=self.coordinator_id)

    @property
    def statistician(self) -> User:
        return User.objects.get(pk=self.statistician_id)


def identities() -> list[str]:
    """Every name, username, e-mail address and password hash of the study's readers and truthers."""
    users = User.objects.filter(username__in=[*READERS, *TRUTHERS])
    found = [value for user in users for value in (user.username, user.email, user.first_name, user.last_name,
                                                   user.password) if value]
    assert len(found) == 5 * (len(READERS) + len(TRUTHERS))
    return found


def _build() -> PackagedStudy:
    coordinator = create_user("pkg_coord", Role.COORDINATOR)
    statistician = create_user("pkg_stat", Role.STATISTICIAN)
    for username in READERS:
        first, last = NAMES[username]
        create_user(username, specialty="breast imaging", years_experience=12, email=username, first_name=first,
                    last_name=last)
    study = create_read_demo_study(coordinator=coordinator, statistician=statistician, n_cases=12, readers=READERS,
                                   title="Packaged")
    with audit.context(user=coordinator):
        reader = Reader.objects.get(study=study, user__username=READERS[0])
        audit.record(action=invitations.SENT, entity="studies.Reader", entity_id=reader.pk, study_id=study.pk,
                     actor=coordinator, after={"email": READERS[0], "set_password_link": True})
        audit.record(action="dicomweb_retrieve", entity="dicomweb", entity_id="1.2.3", study_id=study.pk,
                     actor=reader.user, after={"instances": 4})  # as the image server records a reader's request
        study.protocol_version = "1.1"
        study.protocol_text += " Amended: readers see prior images."
        study.save(update_fields=["protocol_version", "protocol_text", "updated_at"])
        _truthing(study)
        case = Case.objects.filter(study=study).order_by("label").last()
        case.excluded_reason = "Image unreadable (motion), as Annabel Morganstern reported"
        case.excluded_at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
        case.save(update_fields=["excluded_reason", "excluded_at"])
        ProtocolDeviation.objects.create(
            study=study, key=f"read:{reader.pk}", kind=ProtocolDeviation.Kind.LATE_SESSION,
            severity=ProtocolDeviation.Severity.MINOR, rule="late by under 7 days", reader=reader,
            description=f"{READERS[0]} read session 2 three days late", details={"days_late": 3},
            occurred_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    run = analysis.analyze_now(actor=statistician, study=study, options={})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    return PackagedStudy(study.pk, run.pk, coordinator.pk, statistician.pk)


def _truthing(study: Study) -> None:
    """Two truthers label the first two cases (agreeing on one) and the adjudicator settles the other."""
    study.truthing = truthing.validate_rule({"rounds": 1, "final": "adjudicated", "thresholds": {"kappa": 0.6}})
    study.save(update_fields=["truthing", "updated_at"])
    members = {username: TruthingMember.objects.create(
        study=study, user=create_user(username, Role.TRUTHER, first_name=first, last_name=last, email=email),
        code=code, is_adjudicator=code == "A1") for username, (first, last, email, code) in TRUTHERS.items()}
    first, second = Case.objects.filter(study=study).order_by("label")[:2]
    for case, labels in ((first, (1, 1)), (second, (1, 0))):
        for username, label in zip(("dr.truthful", "dr.second"), labels, strict=True):
            TruthLabel.objects.create(case=case, member=members[username], round=1, label=label,
                                      idempotency_key=uuid.uuid4(), comment=f"Seen by {username}")
    TruthAdjudication.objects.create(case=second, member=members["dr.judge"], label=1, idempotency_key=uuid.uuid4(),
                                     note="Agreed with Theodora Truthwell")
    second.truth_provenance = {"source": "panel", "labels": {"E1": 1, "E2": 0}, "adjudicated_by": "dr.judge"}
    second.truth_established_by = "Justus Adjudicatore"
    second.save(update_fields=["truth_provenance", "truth_established_by"])


@pytest.fixture(scope="package")
def packaged_ids(django_db_setup, django_db_blocker) -> PackagedStudy:
    yield from kept_for_scope(django_db_blocker, _build)


@pytest.fixture
def packaged(packaged_ids, db) -> PackagedStudy:
    return packaged_ids


@pytest.fixture(scope="package")
def package_bytes(packaged_ids, django_db_blocker, tmp_path_factory) -> bytes:
    """The package of the study as built, once (tests that change the data run in savepoints, undone after);
    its trail checked against an anchor file of its own, as each test's is (tests/conftest.py)."""
    from studies.reports.package import report_files
    from studies.services.package import build_package

    anchors = tmp_path_factory.mktemp("anchors") / "audit-anchors.jsonl"
    with django_db_blocker.unblock(), override_settings(AUDIT_ANCHOR_FILE=anchors):
        return build_package(study=packaged_ids.study, run=packaged_ids.run, report_files=report_files)
