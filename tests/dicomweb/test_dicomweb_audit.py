"""Every DICOMweb request answered leaves one audit event: who, which route, which UIDs."""

from django.test import Client
from django.urls import reverse

from studies.models import AuditEvent, DicomInstance


def test_a_readers_retrievals_are_recorded_one_event_per_request(imaged_world):
    reader, case = imaged_world["users"]["reader"], imaged_world["open_case"]
    instance = DicomInstance.objects.select_related("series__dicom_study").get(series__dicom_study__case=case)
    uids = {"study": instance.series.dicom_study.study_instance_uid,
            "series": instance.series.series_instance_uid, "instance": instance.sop_instance_uid}
    client = Client()
    client.force_login(reader)
    before = AuditEvent.objects.count()
    for name, kwargs in (("dicomweb-study-metadata", {"study": uids["study"]}),
                         ("dicomweb-frames", {**uids, "frame_list": "1"})):
        response = client.get(reverse(name, kwargs=kwargs))
        assert response.status_code == 200

    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.actor_username, e.entity_id, e.study_id) for e in events] == [
        ("dicomweb_metadata", reader.username, uids["study"], imaged_world["study"].pk),
        ("dicomweb_frames", reader.username, uids["study"], imaged_world["study"].pk),
    ]
    assert events[1].after == {"series": uids["series"], "instance": uids["instance"], "frame_list": "1"}


def test_a_refused_request_records_nothing(imaged_world):
    client = Client()
    client.force_login(imaged_world["users"]["other_reader"])
    before = AuditEvent.objects.count()
    uid = imaged_world["open_case"].study_instance_uid
    assert client.get(reverse("dicomweb-study-metadata", kwargs={"study": uid})).status_code == 404
    assert AuditEvent.objects.count() == before
