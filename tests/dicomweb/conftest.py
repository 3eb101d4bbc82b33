"""Fixtures: a reading study whose cases have small synthetic images ingested through the real service."""

import pytest

from studies.models import Assignment, Role
from studies.services import ingest
from tests.dicomweb.images import write_case_images


@pytest.fixture(autouse=True)
def dicom_storage(settings, tmp_path):
    """Each test gets its own content store and an empty metadata cache."""
    from django.core.cache import cache

    settings.DICOM_STORAGE = tmp_path / "store"
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM = "local", ""
    cache.clear()
    return settings.DICOM_STORAGE


@pytest.fixture
def imaged_world(make_study, make_user, coordinator, statistician, tmp_path):
    """A split-plot study in reading, 4 cases with images: R01 reads two of them (session 1 open),
    R02 the other two (``foreign_case``); every role to probe with."""
    from studies.services import studies as services

    study = make_study(n_readers=2, n_cases=4, design="split_plot")
    services.add_member(actor=coordinator, study=study, user=statistician)
    folder = tmp_path / "incoming"
    for case in study.cases.all():
        write_case_images(folder / case.label, study_instance_uid=case.study_instance_uid, seed=case.pk)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    assert report.stored == 4 and not report.rejected, report.as_dict()
    assert len(report.linked) == 4
    r01 = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1)
    open_case = r01.first().case
    foreign_case = study.cases.exclude(assignments__reader__code="R01").first()
    users = {
        "reader": r01.first().reader.user,
        "other_reader": make_user("outsider_reader", Role.READER),
        "coordinator": coordinator,
        "other_coordinator": make_user("other_coord", Role.COORDINATOR),
        "statistician": statistician,
        "admin": make_user("boss", Role.ADMIN),
    }
    return {"study": study, "users": users, "open_case": open_case, "foreign_case": foreign_case}
