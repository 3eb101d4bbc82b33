"""DICOM ingest: rejections with reasons, de-identification, idempotence, archives, linking to cases, upload."""

import io
import zipfile

import numpy as np
import pydicom
import pytest
import retrying
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from mrmc.dicom.deid import check_identified, remap_uid
from mrmc.dicom.storage import ContentStore
from mrmc.dicom.synth import make_case
from studies.errors import InvalidInput, NotAllowed
from studies.models import AuditEvent, Case, DicomInstance, DicomStudy, Job
from studies.services import ingest
from studies.services.ingest import pipeline
from tests.dicomweb.images import case_datasets, write_case_images


@pytest.fixture(autouse=True)
def dicom_storage(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    return settings.DICOM_STORAGE


@pytest.fixture
def study(make_study):
    return make_study(n_readers=2, n_cases=3, status="draft")


def stored_files(root) -> list:
    return sorted(path for path in root.rglob("*.dcm")) if root.exists() else []


def good_and_bad_files(folder):
    good = write_case_images(folder / "good", seed=11)
    truncated = folder / "truncated.dcm"
    truncated.write_bytes(good[0].read_bytes()[:2000])
    (folder / "notes.txt").write_text("not an image")
    corrupt = bytearray(good[0].read_bytes())
    corrupt[128:132] = b"XXXX"  # the DICM prefix
    (folder / "corrupt.dcm").write_bytes(bytes(corrupt))
    return good


def test_broken_files_are_rejected_with_reasons_and_good_ones_stored(study, coordinator, tmp_path, dicom_storage):
    good = good_and_bad_files(tmp_path / "in")
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "in")])
    reasons = {name.rsplit("/", 1)[-1]: reason for name, _, reason in report.rejected}
    assert report.stored == len(good) == 1
    assert set(reasons) == {"truncated.dcm", "notes.txt", "corrupt.dcm"}
    assert "bytes" in reasons["truncated.dcm"] and "expected" in reasons["truncated.dcm"]  # cut in the pixels
    assert "not a DICOM" in reasons["notes.txt"] and "not a DICOM" in reasons["corrupt.dcm"]
    assert DicomInstance.objects.count() == 1 and len(stored_files(dicom_storage)) == 1


def test_stored_files_are_deidentified_with_consistent_uids(study, coordinator, tmp_path, dicom_storage):
    datasets, _ = make_case("CASE009", True, 9, modality="MG", shape=(64, 64), spacing_mm=1.0)
    folder = tmp_path / "mg"
    folder.mkdir()
    for index, ds in enumerate(datasets):
        ds.InstitutionName = "Hospital of Jane Doe"
        ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    assert report.stored == 4
    key = ingest.deid_key_for(study)
    served = [pydicom.dcmread(path) for path in stored_files(dicom_storage)]
    assert {ds.StudyInstanceUID for ds in served} == {remap_uid(datasets[0].StudyInstanceUID, key)}
    assert {ds.SOPInstanceUID for ds in served} == {remap_uid(ds.SOPInstanceUID, key) for ds in datasets}
    for ds in served:
        assert check_identified(ds) == [] and ds.PatientIdentityRemoved == "YES"
        assert "InstitutionName" not in ds and "Basic Application Confidentiality Profile" in ds.DeidentificationMethod
    original_pixels = sorted(ds.PixelData for ds in datasets)
    assert sorted(ds.PixelData for ds in served) == original_pixels  # pixels untouched
    assert DicomStudy.objects.get().deidentification["method"][0] == "Basic Application Confidentiality Profile"


def test_identified_files_are_refused_unless_the_study_allows_them(study, coordinator, tmp_path, dicom_storage):
    paths = [str(p) for p in write_case_images(tmp_path / "in", seed=3)]
    refused = ingest.ingest_paths(actor=coordinator, study=study, paths=paths, deidentify_files=False)
    assert refused.stored == 0 and "PatientName" in refused.rejected[0].reason and "PatientID" in refused.rejected[0].reason
    study.allow_identified_data = True
    study.save()
    allowed = ingest.ingest_paths(actor=coordinator, study=study, paths=paths, deidentify_files=False)
    assert allowed.stored == 1
    stored = pydicom.dcmread(stored_files(dicom_storage)[0])
    assert "PatientName" in check_identified(stored) and stored.SOPInstanceUID == pydicom.dcmread(paths[0]).SOPInstanceUID


def test_images_with_burned_in_annotation_are_refused_unless_the_study_allows_identified_data(
    study, coordinator, tmp_path, dicom_storage
):
    """Text in the pixels may name the patient, and de-identification does not remove it."""
    paths = [str(p) for p in write_case_images(tmp_path / "in", seed=4)]
    ds = pydicom.dcmread(paths[0])
    ds.BurnedInAnnotation = "YES"
    ds.save_as(paths[0], enforce_file_format=True)
    refused = ingest.ingest_paths(actor=coordinator, study=study, paths=paths)
    assert refused.stored == 0 and "BurnedInAnnotation" in refused.rejected[0].reason
    assert DicomInstance.objects.count() == 0 and stored_files(dicom_storage) == []
    study.allow_identified_data = True
    study.save()
    assert ingest.ingest_paths(actor=coordinator, study=study, paths=paths).stored == 1


def burned_in(path):
    ds = pydicom.dcmread(path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(path, enforce_file_format=True)
    return ds


def test_burned_in_text_is_blacked_out_where_the_study_says_and_the_image_is_stored(
    study, coordinator, tmp_path, dicom_storage
):
    path = write_case_images(tmp_path / "in", seed=5)[0]
    ds = burned_in(path)
    assert ds.PhotometricInterpretation == "MONOCHROME2" and ds.PixelRepresentation == 0
    band = [0, 0, ds.Columns, 16]
    study.pixel_cleaning = [
        {"match": {"Modality": "CT"}, "regions": [[0, 0, 1, 1]]},  # another kind of image
        {"match": {"Modality": ds.Modality, "Rows": ds.Rows, "Columns": ds.Columns}, "regions": [band]},
    ]
    study.save()
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path)])
    assert report.stored == 1, report.rejected
    stored = pydicom.dcmread(stored_files(dicom_storage)[0])
    assert (stored.pixel_array[:16] == 0).all() and (ds.pixel_array[:16] != 0).any()
    assert np.array_equal(stored.pixel_array[16:], ds.pixel_array[16:])
    assert stored.BurnedInAnnotation == "NO" and stored.PatientName != ds.PatientName
    assert "Clean Pixel Data Option" in stored.DeidentificationMethod
    assert report.cleaned == {stored.SOPInstanceUID: [band]}


def test_a_cleaning_rule_that_does_not_fit_the_image_refuses_it_with_the_reason(
    study, coordinator, tmp_path, dicom_storage
):
    path = write_case_images(tmp_path / "in", seed=6)[0]
    ds = burned_in(path)
    study.pixel_cleaning = [{"match": {"Modality": ds.Modality}, "regions": [[0, 0, ds.Columns + 1, 4]]}]
    study.save()
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(path)])
    assert report.stored == 0 and "burned-in text not removed: region" in report.rejected[0].reason
    assert DicomInstance.objects.count() == 0 and stored_files(dicom_storage) == []


def test_coordinators_set_cleaning_rules_through_the_api_checked_and_audited(api, study, coordinator):
    rules = [{"match": {"Modality": "US", "Rows": 480}, "regions": [[0, 0, 640, 48]]}]
    url = f"/api/v1/studies/{study.pk}/"
    bad = api(coordinator).patch(url, {"pixel_cleaning": [{"match": {"Modality": "US"}}]}, format="json")
    assert bad.status_code == 400 and "rule 1: needs exactly the fields 'match' and 'regions'" in bad.content.decode()
    assert api(coordinator).patch(url, {"pixel_cleaning": rules}, format="json").status_code == 200
    study.refresh_from_db()
    assert study.pixel_cleaning == rules
    event = AuditEvent.objects.filter(entity="studies.Study", action="update").last()
    assert event.after["pixel_cleaning"] == rules


def test_reimport_changes_nothing(study, coordinator, tmp_path, dicom_storage):
    folder = tmp_path / "in"
    write_case_images(folder / "a", seed=1, study_instance_uid=study.cases.get(label="C000").study_instance_uid)
    write_case_images(folder / "b", seed=2)
    first = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    files, rows, events = stored_files(dicom_storage), DicomInstance.objects.count(), AuditEvent.objects.count()
    uids = list(Case.objects.filter(study=study).values_list("study_instance_uid", flat=True))
    again = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    assert (first.stored, first.duplicates) == (2, 0) and (again.stored, again.duplicates) == (0, 2)
    assert stored_files(dicom_storage) == files and DicomInstance.objects.count() == rows
    assert AuditEvent.objects.count() == events
    assert list(Case.objects.filter(study=study).values_list("study_instance_uid", flat=True)) == uids


def test_zip_archive_streams_members_and_reports_bad_ones(study, coordinator, tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for seed in (4, 5):
            for ds in case_datasets(seed=seed):
                buffer = io.BytesIO()
                ds.save_as(buffer, enforce_file_format=True)
                zf.writestr(f"case{seed}/image.dcm", buffer.getvalue())
        zf.writestr("README.txt", "hello")
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(archive)])
    assert report.stored == 2
    assert [(p.file, p.kind) for p in report.rejected] == [("batch.zip:README.txt", "not-dicom")]


def test_linking_by_original_uid_updates_the_case_and_is_audited(study, coordinator, tmp_path):
    case = study.cases.get(label="C001")
    original = case.study_instance_uid
    write_case_images(tmp_path / "in", seed=6, study_instance_uid=original)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "in")])
    case.refresh_from_db()
    new_uid = remap_uid(original, ingest.deid_key_for(study))
    assert report.linked == {"C001": new_uid} and case.study_instance_uid == new_uid
    assert DicomStudy.objects.get(case=case).study_instance_uid == new_uid
    event = AuditEvent.objects.filter(entity="studies.Case", entity_id=str(case.pk), action="update").last()
    assert event.before["study_instance_uid"] == original and event.after["study_instance_uid"] == new_uid
    assert AuditEvent.objects.filter(entity="studies.DicomStudy", action="update").exists()


def test_truth_reimport_keeps_the_served_uid_of_linked_cases(study, coordinator, tmp_path):
    from studies.services.imports import import_truth

    case = study.cases.get(label="C001")
    original = case.study_instance_uid
    write_case_images(tmp_path / "in", seed=6, study_instance_uid=original)
    ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "in")])
    served = DicomStudy.objects.get(case=case).study_instance_uid
    import_truth(actor=coordinator, study=study, data=f"case,truth,study_instance_uid\nC001,1,{original}\n".encode())
    case.refresh_from_db()
    assert case.study_instance_uid == served and case.truth == 1
    with pytest.raises(InvalidInput, match="line 2, field 'study_instance_uid': case 'C001' is linked"):
        import_truth(actor=coordinator, study=study, data=b"case,truth,study_instance_uid\nC001,0,1.2.999\n")
    case.refresh_from_db()
    assert case.truth == 1


def test_truth_imported_after_the_images_links_the_cases(make_study, coordinator, tmp_path):
    from studies.services.imports import import_truth

    study = make_study(n_readers=1, n_cases=0, status="draft")
    write_case_images(tmp_path / "in", seed=8, study_instance_uid="1.2.826.0.1.77")
    ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "in")])
    result = import_truth(actor=coordinator, study=study, data=b"case,truth,study_instance_uid\nK1,1,1.2.826.0.1.77\n")
    assert result["linked_to_images"] == 1
    assert Case.objects.get(study=study, label="K1").study_instance_uid == DicomStudy.objects.get(study=study).study_instance_uid


def test_linking_by_accession_number_keeps_no_original_accession(study, coordinator, tmp_path):
    case = study.cases.get(label="C002")
    Case.objects.filter(pk=case.pk).update(accession_number="ACC-778", study_instance_uid="")
    datasets = case_datasets(seed=7)
    datasets[0].AccessionNumber = "ACC-778"
    datasets[0].save_as(tmp_path / "x.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "x.dcm")])
    assert list(report.linked) == ["C002"]
    stored = DicomStudy.objects.get()
    assert stored.case_id == case.pk and stored.accession_number == "" and "ACC-778" not in str(stored.__dict__)


def test_linking_by_mapping_csv(study, coordinator, tmp_path):
    Case.objects.filter(study=study).update(study_instance_uid="")
    datasets = case_datasets(seed=8, study_instance_uid="1.2.826.0.1.99.8")
    datasets[0].save_as(tmp_path / "x.dcm", enforce_file_format=True)
    ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "x.dcm")])
    assert not DicomStudy.objects.get().case_id
    mapping = ingest.parse_link_mapping(b"case,study_instance_uid\nC000,1.2.826.0.1.99.8\n")
    assert ingest.link_cases(study=study, mapping=mapping) == {"C000": DicomStudy.objects.get().study_instance_uid}
    with pytest.raises(InvalidInput, match="case and study_instance_uid"):
        ingest.parse_link_mapping(b"label,uid\nC000,1.2\n")


def test_sanitize_repairs_are_recorded(study, coordinator, tmp_path):
    ds = case_datasets(seed=9)[0]
    ds.ImagerPixelSpacing = [0, 0]
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(tmp_path / "x.dcm")])
    fixes = DicomInstance.objects.get().sanitize_fixes
    assert fixes and "ImagerPixelSpacing" in fixes[0] and list(report.sanitized.values()) == [fixes]


def test_only_study_editors_ingest(study, make_user, tmp_path):
    outsider = make_user("outsider", "coordinator")
    with pytest.raises(NotAllowed):
        ingest.ingest_paths(actor=outsider, study=study, paths=[str(p) for p in write_case_images(tmp_path, seed=1)])


def test_upload_endpoint_runs_an_ingest_job(study, coordinator, api, tmp_path, dicom_storage,
                                           django_capture_on_commit_callbacks):
    good = good_and_bad_files(tmp_path / "in")
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in [*good, tmp_path / "in" / "notes.txt"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = api(coordinator).post(f"/api/v1/studies/{study.pk}/dicom/", {"files": files}, format="multipart")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == "ingest_dicom" and job.status == Job.Status.SUCCEEDED, job.message
    assert job.result["stored"] == 1 and job.result["rejected"][0]["file"] == "notes.txt"  # the upload's own name
    assert job.progress == 1.0
    assert not (dicom_storage / "incoming").exists() or not any((dicom_storage / "incoming").iterdir())


def test_upload_over_the_size_limit_is_refused_before_it_is_read(study, coordinator, api, settings, dicom_storage):
    settings.INGEST_MAX_UPLOAD_BYTES = 1 << 20
    upload = SimpleUploadedFile("big.zip", bytes(2 << 20))
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/dicom/", {"files": [upload]}, format="multipart")
    assert response.status_code == 413
    assert "more than the limit of 1 MiB" in response.json()["detail"]
    assert not Job.objects.exists() and not (dicom_storage / "incoming").exists()


def test_a_file_that_crashes_a_step_is_rejected_and_the_others_go_in(study, coordinator, tmp_path, monkeypatch,
                                                                     dicom_storage):
    paths = [write_case_images(tmp_path / name, seed=seed)[0] for name, seed in (("a", 12), ("b", 13))]
    real_sanitize = pipeline.sanitize
    calls = []

    def sanitize_failing_once(ds):
        calls.append(ds.SOPInstanceUID)
        if len(calls) == 1:
            raise RecursionError("maximum recursion depth exceeded")
        return real_sanitize(ds)

    monkeypatch.setattr(pipeline, "sanitize", sanitize_failing_once)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(p) for p in paths])
    assert report.stored == 1 and report.rejected == [
        ingest.Problem("01.dcm", "unreadable", "could not be processed (RecursionError)")]
    assert DicomInstance.objects.count() == 1 and len(stored_files(dicom_storage)) == 1


def test_a_file_the_store_cannot_write_leaves_no_index_row(study, coordinator, tmp_path, monkeypatch, dicom_storage):
    def disk_full(self, data):
        raise OSError(28, "No space left on device", str(dicom_storage))

    monkeypatch.setattr(ContentStore, "put", disk_full)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(p) for p in write_case_images(tmp_path)])
    assert report.stored == 0 and [(p.kind, p.reason) for p in report.rejected] == [
        ("unreadable", "could not be processed (OSError)")]
    assert not DicomInstance.objects.exists() and not DicomStudy.objects.exists()


def test_a_study_the_dicomweb_server_does_not_deliver_is_reported(study, coordinator, monkeypatch):
    monkeypatch.setattr(retrying.time, "sleep", lambda seconds: None)  # the client's back-off: 30 s over its 5 tries
    report = ingest.pull_from_dicomweb(actor=coordinator, study=study, url="http://127.0.0.1:9/dicom-web",
                                       study_uids=["1.2.3"])
    assert report.rejected == [ingest.Problem("study 1.2.3", "retrieve-failed", "could not be retrieved (ConnectionError)")]


def test_upload_without_files_is_a_400(study, coordinator, api):
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/dicom/", {}, format="multipart")
    assert response.status_code == 400


def test_import_dicom_command(study, coordinator, tmp_path):
    good_and_bad_files(tmp_path / "in")
    out = io.StringIO()
    call_command("import_dicom", str(tmp_path / "in"), study=study.pk, user="coord", stdout=out, stderr=io.StringIO())
    assert "4 files: 1 instances stored, 0 already present, 0 conflicts, 3 rejected" in out.getvalue()
    assert "rejected in/notes.txt [not-dicom]: not a DICOM" in out.getvalue()
