"""Image modes without an archive running: the settings refuse an incoherent mode, upstream mode
imports nothing, archive mode stops an import the archive cannot take and authorizes against
the index before asking it. (Against a real Orthanc: tests/integration/test_image_modes.py.)"""

import runpy

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

import config.settings
from studies.errors import RuleViolation
from studies.models import DicomInstance, DicomStudy
from studies.services import ingest
from tests.dicomweb.images import write_case_images

UNREACHABLE = "http://127.0.0.1:9/dicom-web"  # the discard port: connection refused
MODE_VARIABLES = ("IMAGE_MODE", "DICOMWEB_UPSTREAM", "DICOMWEB_ARCHIVE_URL", "DICOMWEB_UPSTREAM_DEIDENTIFIED")
PACS = "https://pacs.example.org/dicom-web"


@pytest.mark.parametrize(("environment", "refusal"), [
    ({"IMAGE_MODE": "upstream", "DICOMWEB_UPSTREAM": PACS}, "needs DICOMWEB_UPSTREAM and DICOMWEB_UPSTREAM_DEIDENTIFIED=1"),
    ({"IMAGE_MODE": "upstream", "DICOMWEB_UPSTREAM_DEIDENTIFIED": "1"}, "needs DICOMWEB_UPSTREAM and"),
    ({"IMAGE_MODE": "archive"}, "needs DICOMWEB_ARCHIVE_URL"),
    ({"IMAGE_MODE": "archive", "DICOMWEB_ARCHIVE_URL": "http://orthanc:8042/dicom-web", "DICOMWEB_UPSTREAM": PACS},
     "and no DICOMWEB_UPSTREAM"),
    ({"DICOMWEB_UPSTREAM": PACS}, "IMAGE_MODE=local needs no DICOMWEB_UPSTREAM"),
    ({"IMAGE_MODE": "cloud"}, "IMAGE_MODE=cloud is not one of local, archive, upstream"),
    ({}, None),
    ({"IMAGE_MODE": "archive", "DICOMWEB_ARCHIVE_URL": "http://orthanc:8042/dicom-web"}, None),
    ({"IMAGE_MODE": "upstream", "DICOMWEB_UPSTREAM": PACS, "DICOMWEB_UPSTREAM_DEIDENTIFIED": "1"}, None),
])
def test_settings_refuse_to_load_an_image_mode_without_what_it_needs(environment, refusal, monkeypatch, tmp_path):
    """The settings module run afresh (development settings: the refusal holds in every environment)."""
    monkeypatch.setenv("DJANGO_DEBUG", "1")
    monkeypatch.setenv("MRMC_DATA_DIR", str(tmp_path))
    for name in MODE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    if refusal is None:
        assert runpy.run_path(config.settings.__file__)["IMAGE_MODE"] == environment.get("IMAGE_MODE", "local")
    else:
        with pytest.raises(ImproperlyConfigured) as refused:
            runpy.run_path(config.settings.__file__)
        assert refusal in str(refused.value)


def test_upstream_mode_imports_nothing(make_study, coordinator, settings, tmp_path):
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM, settings.DICOMWEB_UPSTREAM_DEIDENTIFIED = "upstream", PACS, True
    study = make_study(n_readers=1, n_cases=1, status="draft")
    with pytest.raises(RuleViolation, match="served from the external archive"):
        ingest.ingest_paths(actor=coordinator, study=study, paths=[str(p) for p in write_case_images(tmp_path)])
    assert not DicomStudy.objects.exists() and not settings.DICOM_STORAGE.exists()


def test_archive_mode_stops_at_the_first_file_the_archive_cannot_take(make_study, coordinator, settings, tmp_path):
    settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", UNREACHABLE
    study = make_study(n_readers=1, n_cases=2, status="draft")
    paths = [write_case_images(tmp_path / label, seed=seed)[0] for label, seed in (("a", 1), ("b", 2))]
    with pytest.raises(ingest.ImageArchiveUnavailable) as failure:
        ingest.ingest_paths(actor=coordinator, study=study, paths=[str(p.parent) for p in paths])
    assert str(failure.value) == (
        "the image archive is unreachable (ConnectionError) while storing a/01.dcm; the files stored before it (0) "
        "are kept and no case was linked: import again once the archive answers (what is stored counts as "
        "already present)")
    assert failure.value.status_code == 503
    assert not DicomInstance.objects.exists() and not settings.DICOM_STORAGE.exists()


def test_archive_mode_authorizes_against_the_index_before_asking_the_archive(imaged_world, settings):
    """Images ingested, then the archive gone: a reader's own study reaches it (502), another's and
    an unindexed UID do not (404), whatever the archive would have answered."""
    settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", UNREACHABLE
    reader = Client()
    reader.force_login(imaged_world["users"]["reader"])
    own = DicomStudy.objects.get(case=imaged_world["open_case"]).study_instance_uid
    foreign = DicomStudy.objects.get(case=imaged_world["foreign_case"]).study_instance_uid
    assert reader.get(f"/dicomweb/studies/{own}/metadata").status_code == 502
    for uid in (foreign, "1.2.3.999"):
        assert reader.get(f"/dicomweb/studies/{uid}/metadata").status_code == 404
    assert Client().get(f"/dicomweb/studies/{own}/metadata").status_code == 401
