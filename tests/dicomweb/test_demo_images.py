"""The demo study reads real, served images: generated once, ingested, cases and AI marks on the served UIDs."""

from django.test import Client

from studies.models import AIOutput, DicomInstance, Study
from studies.permissions import dicom_studies_visible_to
from studies.services.demo import demo_images, seed_demo


def test_seeded_demo_cases_point_at_served_images(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    study, _ = seed_demo(n_cases=4, image_shape=(128, 128))
    assert study.status == Study.Status.READING
    served_uids = set(DicomInstance.objects.values_list("sop_instance_uid", flat=True))
    for case in study.cases.all():
        assert case.dicom_study.study_instance_uid == case.study_instance_uid
        for lesion in case.lesions:
            assert lesion["sop_instance_uid"] in served_uids
    findings = [f for output in AIOutput.objects.filter(study=study) for f in output.findings]
    assert findings and all(f["type"] == "box" and f["sop_instance_uid"] in served_uids for f in findings)

    reader = study.readers.get(code="R01").user
    visible = dicom_studies_visible_to(reader).first()
    instance = DicomInstance.objects.filter(series__dicom_study=visible).select_related("series").first()
    client = Client()
    client.force_login(reader)
    url = (f"/dicomweb/studies/{visible.study_instance_uid}/series/{instance.series.series_instance_uid}"
           f"/instances/{instance.sop_instance_uid}/metadata")
    assert client.get(url).status_code == 200


def test_demo_images_are_generated_once(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    first = demo_images(n_cases=2, seed=1, shape=(128, 128))
    stamps = [path.stat().st_mtime_ns for path in first.image_paths]
    again = demo_images(n_cases=2, seed=1, shape=(128, 128))
    assert again.image_paths == first.image_paths and [p.stat().st_mtime_ns for p in again.image_paths] == stamps
