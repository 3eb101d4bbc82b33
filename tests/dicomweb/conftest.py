"""Fixtures: a reading study whose cases have small synthetic images ingested through the real service."""

import shutil
from pathlib import Path

import pytest
from django.test import override_settings

from studies.models import Assignment, Case, Role, Study, User
from studies.services import ingest
from tests.conftest import create_study, create_user, kept_for_scope
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
def imaged_world(coordinator, statistician, tmp_path) -> dict:
    return build_imaged_world(coordinator, statistician, tmp_path / "incoming")


def build_imaged_world(coordinator: User, statistician: User, folder: Path) -> dict:
    """A split-plot study in reading, 4 cases with images: R01 reads two of them (session 1 open),
    R02 the other two (``foreign_case``); every role to probe with."""
    from studies.services import studies as services

    study = create_study(coordinator, n_readers=2, n_cases=4, design="split_plot")
    services.add_member(actor=coordinator, study=study, user=statistician)
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
        "other_reader": create_user("outsider_reader", Role.READER),
        "coordinator": coordinator,
        "other_coordinator": create_user("other_coord", Role.COORDINATOR),
        "statistician": statistician,
        "admin": create_user("boss", Role.ADMIN),
    }
    return {"study": study, "users": users, "open_case": open_case, "foreign_case": foreign_case}


@pytest.fixture(scope="module")
def module_store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def imaged_world_for_module(django_db_setup, django_db_blocker, module_store, tmp_path_factory) -> dict:
    """The imaged world built once for a module, by id; its images are in ``module_store``."""

    def build() -> dict:
        with override_settings(DICOM_STORAGE=module_store, IMAGE_MODE="local", DICOMWEB_UPSTREAM=""):
            world = build_imaged_world(create_user("coord", Role.COORDINATOR), create_user("stat", Role.STATISTICIAN),
                                       tmp_path_factory.mktemp("incoming"))
        return {"study": world["study"].pk, "users": {role: user.pk for role, user in world["users"].items()},
                "open_case": world["open_case"].pk, "foreign_case": world["foreign_case"].pk}

    yield from kept_for_scope(django_db_blocker, build)


@pytest.fixture
def shared_imaged_world(db, imaged_world_for_module, module_store, dicom_storage) -> dict:
    """The module's imaged world, its objects loaded afresh and its images copied into this test's own store."""
    ids = imaged_world_for_module
    shutil.copytree(module_store, dicom_storage, dirs_exist_ok=True)
    users = User.objects.in_bulk(ids["users"].values())
    return {"study": Study.objects.get(pk=ids["study"]), "users": {role: users[pk] for role, pk in ids["users"].items()},
            "open_case": Case.objects.get(pk=ids["open_case"]), "foreign_case": Case.objects.get(pk=ids["foreign_case"])}
