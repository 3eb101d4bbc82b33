"""Image modes against a real Orthanc: ingest into the platform's own archive and serving from it
(``archive``), an archive that fails mid-import, and an external archive holding identified
images (``upstream``)."""

import contextlib
import json

import pytest
from dicomweb_client.api import DICOMwebClient
from django.db import DatabaseError
from django.test import Client

from mrmc.dicom.deid import check_identified, deidentify, remap_uid
from mrmc.dicom.deid_profile import DeidOptions
from mrmc.dicom.parse import write_instance
from studies.models import Assignment, Case, DicomInstance, DicomStudy
from studies.services import ingest
from studies.services.ingest import store
from tests.conftest import skip_or_fail
from tests.dicomweb.images import case_datasets, write_case_images
from tests.integration.conftest import orthanc_installed, running_orthanc

pytestmark = pytest.mark.integration
ULTRASOUND_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


@pytest.fixture(autouse=True)
def local_store(settings, tmp_path):
    """The local store of this test: archive mode must leave it empty."""
    from django.core.cache import cache

    settings.DICOM_STORAGE = tmp_path / "local-store"
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM, settings.DICOMWEB_ARCHIVE_URL = "local", "", ""
    cache.clear()
    return settings.DICOM_STORAGE


@pytest.fixture
def archive_mode(orthanc, settings):
    settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", orthanc.dicomweb
    return orthanc


def case_folders(study, tmp_path) -> dict[str, list]:
    """Each case's image, as a hospital exports it (patient DEMO^..., the case's original UID)."""
    return {case.label: write_case_images(tmp_path / "incoming" / case.label, study_instance_uid=case.study_instance_uid,
                                          seed=case.pk)
            for case in study.cases.order_by("label")}


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def instance_url(dicom_study: DicomStudy) -> str:
    instance = DicomInstance.objects.get(series__dicom_study=dicom_study)
    return (f"/dicomweb/studies/{dicom_study.study_instance_uid}/series/{instance.series.series_instance_uid}"
            f"/instances/{instance.sop_instance_uid}")


# ------------------------------------------------------------------ archive mode


def test_archive_mode_stores_deidentified_in_orthanc_and_serves_it_under_our_authorization(
        archive_mode, make_study, make_user, coordinator, tmp_path, local_store):
    study = make_study(n_readers=2, n_cases=4, design="split_plot")
    originals = dict(study.cases.values_list("label", "study_instance_uid"))
    folders = case_folders(study, tmp_path)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")])
    assert (report.stored, report.rejected, len(report.linked)) == (4, [], 4)
    assert not local_store.exists()  # nothing kept outside the archive

    archive = DICOMwebClient(archive_mode.dicomweb)
    assert len(archive.search_for_studies()) == 4
    for label in folders:
        case = study.cases.get(label=label)
        served = DicomInstance.objects.select_related("series__dicom_study").get(series__dicom_study__case=case)
        kept = archive.retrieve_instance(case.study_instance_uid, served.series.series_instance_uid,
                                         served.sop_instance_uid)
        original = case_datasets(seed=case.pk)[0]
        assert kept.PatientIdentityRemoved == "YES" and check_identified(kept) == []
        assert str(kept.PatientName) != str(original.PatientName) == f"DEMO^CASE{case.pk:03d}"
        assert kept.StudyInstanceUID == case.study_instance_uid == remap_uid(originals[label],
                                                                             ingest.deid_key_for(study))
        assert kept.PixelData == original.PixelData  # a DX without burned-in text keeps its pixels

    r01 = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1).first()
    reader = logged_in(r01.reader.user)
    own = DicomStudy.objects.get(case=r01.case)
    url = instance_url(own)
    metadata = json.loads(body(reader.get(url + "/metadata")))[0]
    assert metadata["00120062"]["Value"] == ["YES"] and "Value" not in metadata.get("00100010", {})
    assert metadata["7FE00010"]["BulkDataURI"].lower() == f"http://testserver{url}/bulk/7fe00010"
    frame = reader.get(url + "/frames/1")
    assert frame.status_code == 200 and case_datasets(seed=r01.case.pk)[0].PixelData in body(frame)
    listed = {result["0020000D"]["Value"][0] for result in reader.get("/dicomweb/studies").json()}
    assert listed == set(DicomStudy.objects.filter(case__assignments__reader=r01.reader, case__assignments__session__number=1)
                         .values_list("study_instance_uid", flat=True))
    assert own.study_instance_uid in listed and len(listed) == 2

    foreign = DicomStudy.objects.exclude(case__assignments__reader=r01.reader).first()
    other_study = make_study(n_readers=1, n_cases=1, reader_prefix="elsewhere")
    outsider = logged_in(Assignment.objects.filter(session__study=other_study).first().reader.user)
    for client, refused in ((reader, foreign), (outsider, own)):
        for suffix in ("/metadata", "/frames/1", ""):
            assert client.get(instance_url(refused) + suffix).status_code == 404
    assert outsider.get("/dicomweb/studies").json() == []
    assert Client().get(url + "/metadata").status_code == 401

    again = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")])
    assert (again.stored, again.duplicates) == (0, 4) and len(archive.search_for_studies()) == 4


def test_orthanc_stopping_mid_import_leaves_no_row_without_its_instance(orthanc_folder, make_study, coordinator,
                                                                      settings, tmp_path):
    study = make_study(n_readers=1, n_cases=3, status="draft")
    paths = [path for (path,) in case_folders(study, tmp_path).values()]
    archive = contextlib.ExitStack()
    settings.IMAGE_MODE, settings.DICOMWEB_ARCHIVE_URL = "archive", archive.enter_context(
        running_orthanc(orthanc_folder)).dicomweb

    def sources_stopping_orthanc_after_the_first():
        for index, path in enumerate(paths):
            if index == 1:
                archive.close()  # Orthanc terminated between the first and the second file
            yield path.parent.name, path.read_bytes

    with pytest.raises(ingest.ImageArchiveUnavailable) as failure:
        ingest.ingest(actor=coordinator, study=study, sources=sources_stopping_orthanc_after_the_first())
    assert "the files stored before it (1) are kept and no case was linked" in str(failure.value)
    assert "C001" in str(failure.value) and "unreachable" in str(failure.value)
    first = DicomStudy.objects.get()  # the first file only: rows and all
    assert DicomInstance.objects.count() == 1 and first.case is None
    assert not Case.objects.filter(study=study, dicom_study__isnull=False).exists()

    with running_orthanc(orthanc_folder) as restarted:  # same storage, new port
        settings.DICOMWEB_ARCHIVE_URL = restarted.dicomweb
        archive_client = DICOMwebClient(restarted.dicomweb)
        for instance in DicomInstance.objects.select_related("series__dicom_study"):  # every row names a kept instance
            assert archive_client.retrieve_instance(instance.series.dicom_study.study_instance_uid,
                                                    instance.series.series_instance_uid, instance.sop_instance_uid)
        report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path) for path in paths])
        assert (report.stored, report.duplicates, len(report.linked)) == (2, 1, 3)
        assert len(archive_client.search_for_studies()) == 3


def test_an_instance_stored_in_the_archive_but_never_indexed_is_taken_on_the_next_import(
        archive_mode, make_study, coordinator, tmp_path, monkeypatch):
    """The database fails after Orthanc stored the file: no row; the retry indexes what Orthanc kept."""
    study = make_study(n_readers=1, n_cases=1, status="draft")
    (path,) = case_folders(study, tmp_path)["C000"]

    def database_down(*args, **kwargs):
        raise DatabaseError("server closed the connection unexpectedly")

    with monkeypatch.context() as patch:
        patch.setattr(store, "_index", database_down)
        with pytest.raises(DatabaseError):
            ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path)])
    archive = DICOMwebClient(archive_mode.dicomweb)
    assert not DicomInstance.objects.exists() and len(archive.search_for_studies()) == 1

    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path)])
    assert (report.stored, report.conflicts, len(report.linked)) == (1, [], 1)
    assert len(archive.search_for_instances()) == 1


def test_an_instance_left_in_the_archive_with_other_content_is_a_conflict(archive_mode, make_study, coordinator,
                                                                          tmp_path):
    study = make_study(n_readers=1, n_cases=1, status="draft")
    (path,) = case_folders(study, tmp_path)["C000"]
    other = case_datasets(seed=99)[0]  # other pixels, under the UIDs this file is stored with
    key = ingest.deid_key_for(study)
    original = case_datasets(seed=study.cases.get().pk, study_instance_uid=study.cases.get().study_instance_uid)[0]
    deidentify(other, key=key)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(other, keyword, remap_uid(str(original[keyword].value), key))
    archive_mode.upload(write_instance(other))

    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path)])
    assert report.stored == 0 and [problem.kind for problem in report.conflicts] == ["conflict"]
    assert "the image archive holds SOP Instance UID" in report.conflicts[0].reason
    assert not DicomInstance.objects.exists()
    kept = DICOMwebClient(archive_mode.dicomweb).search_for_instances()
    assert [item["00080018"]["Value"][0] for item in kept] == [other.SOPInstanceUID]


@pytest.fixture
def orthanc_folder(tmp_path):
    if not orthanc_installed():
        skip_or_fail("Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)")
    folder = tmp_path / "orthanc"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------ upstream mode


def upstream_images(case, variant: str):
    """The case's image as an external archive holds it: identified, or de-identified by someone else's
    tool (PS3.15 with UIDs retained, so the case's UID still names it) with or without burned-in text."""
    ds = case_datasets(seed=case.pk, study_instance_uid=case.study_instance_uid)[0]
    if variant != "identified":
        deidentify(ds, key=b"the hospital's own key", options=DeidOptions(retain_uids=True))
    if variant == "burned-in":
        ds.BurnedInAnnotation = "YES"
    if variant == "ultrasound-unflagged":
        ds.Modality, ds.SOPClassUID = "US", ULTRASOUND_IMAGE_STORAGE
        ds.file_meta.MediaStorageSOPClassUID = ULTRASOUND_IMAGE_STORAGE
        del ds.BurnedInAnnotation
    return ds


def test_upstream_mode_gives_a_reader_no_identified_header_or_pixel(orthanc, make_study, make_user, settings):
    study = make_study(n_readers=1, n_cases=4, arms=(("unaided", False),))
    variants = dict(zip(study.cases.order_by("label"), ("identified", "deidentified", "burned-in",
                                                       "ultrasound-unflagged"), strict=True))
    for case, variant in variants.items():
        orthanc.upload(write_instance(upstream_images(case, variant)))
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM, settings.DICOMWEB_UPSTREAM_DEIDENTIFIED = (
        "upstream", orthanc.dicomweb, True)
    reader_user = Assignment.objects.filter(session__study=study).first().reader.user
    reader = logged_in(reader_user)
    assert Case.objects.filter(assignments__session__reader__user=reader_user).count() == 4  # all four open

    listed = {result["0020000D"]["Value"][0] for result in reader.get("/dicomweb/studies").json()}
    by_variant = {variant: case for case, variant in variants.items()}
    assert listed == {by_variant[v].study_instance_uid for v in ("deidentified", "burned-in", "ultrasound-unflagged")}

    expected = {  # variant: (metadata, frame, whole instance) statuses; reason of the pixel refusal
        "identified": (403, 403, 403, "not-deidentified"),
        "deidentified": (200, 200, 200, None),
        "burned-in": (200, 403, 403, "burned-in-annotation"),
        "ultrasound-unflagged": (200, 403, 403, "burned-in-annotation-unknown"),
    }
    for case, variant in variants.items():
        source = upstream_images(case, variant)
        url = (f"/dicomweb/studies/{case.study_instance_uid}/series/{source.SeriesInstanceUID}"
               f"/instances/{source.SOPInstanceUID}")
        responses = [reader.get(url + "/metadata"), reader.get(url + "/frames/1"), reader.get(url),
                     reader.get(url + "/rendered"), reader.get(f"/dicomweb/studies/{case.study_instance_uid}")]
        metadata_status, frame_status, instance_status, reason = expected[variant]
        assert [r.status_code for r in responses] == [metadata_status, frame_status, instance_status,
                                                      frame_status, instance_status], variant
        contents = [body(response) for response in responses]
        assert not any(f"DEMO^CASE{case.pk:03d}".encode() in content for content in contents), variant
        assert [json.loads(content)["reason"] for r, content in zip(responses, contents, strict=True)
                if r.status_code == 403] == [reason] * sum(r.status_code == 403 for r in responses), variant
        if reason is None:
            assert source.PixelData in contents[1]


def test_archive_mode_computes_ai_outputs_from_the_images_orthanc_keeps(archive_mode, make_study, coordinator,
                                                                        settings, tmp_path, local_store):
    from studies.models import AIOutput, AIOutputSet
    from studies.services import precompute
    from tests.inference.models import card, expected_score, region_mean_model

    settings.AI_MODEL_STORAGE = tmp_path / "models"
    study = make_study(n_readers=2, n_cases=3, status="draft")
    AIOutputSet.objects.filter(study=study).delete()  # the fixture's imported scores: this study computes its own
    case_folders(study, tmp_path)
    assert len(ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "incoming")]).linked) == 3
    region = (slice(8, 24), slice(4, 20))
    model = precompute.register_model(actor=coordinator, study=study, model_data=region_mean_model(side=32, region=region),
                                      card_data=card(32), file_name="region.onnx")
    result = precompute.precompute_in_process(actor=coordinator, model=model, run=precompute.Settings(device="cpu"))
    assert (result["stored"], result["failed"], result["cases_without_output"]) == (3, [], 0)
    assert not local_store.exists()  # read from the archive, nothing kept outside it
    for case in study.cases.all():
        output = AIOutput.objects.get(case=case)
        assert output.score == pytest.approx(expected_score(case_datasets(seed=case.pk)[0], 32, region), abs=1e-6)
        assert output.inputs[0]["sop_instance_uid"] == DicomInstance.objects.get(series__dicom_study__case=case).sop_instance_uid
