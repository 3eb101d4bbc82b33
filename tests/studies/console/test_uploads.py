"""Chunked, resumable uploads (studies.services.uploads): offsets, resends, limits, who may, cancel, sweep,
and completion into the DICOM import job."""

import fcntl
import io
import os
import time
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent, DicomInstance, Job, Role, Study, Upload
from studies.services import uploads
from studies.services.ingest import UploadTooLarge
from studies.services.staging import staging_root
from tests.dicomweb.images import case_datasets

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def store(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    settings.UPLOAD_MIN_FREE_BYTES = 0
    return settings.DICOM_STORAGE


@pytest.fixture
def study(make_study):
    return make_study(n_readers=1, n_cases=2)


def dicom_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    case_datasets(seed=seed)[0].save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def start(coordinator, study, data: bytes, name: str = "batch.zip", fingerprint: str = "") -> Upload:
    upload, created = uploads.create_upload(actor=coordinator, study=study, file_name=name, size=len(data),
                                            fingerprint=fingerprint)
    assert created
    return upload


@pytest.fixture
def complete(coordinator, study, django_capture_on_commit_callbacks):
    """Complete an upload and run its job as it is queued (on commit); the upload afterwards."""

    def run(upload: Upload) -> Upload:
        with django_capture_on_commit_callbacks(execute=True):
            uploads.complete_upload(actor=coordinator, study=study, upload_id=upload.pk)
        return uploads.upload_of(actor=coordinator, study=study, upload_id=upload.pk)

    return run


def send_range(coordinator, study, upload, data: bytes, start_at: int, end: int) -> Upload:
    return uploads.receive_chunk(actor=coordinator, study=study, upload_id=upload.pk, offset=start_at,
                                 length=end - start_at, stream=io.BytesIO(data[start_at:end]))


def test_chunks_in_order_make_the_file_and_the_last_one_completes_it(coordinator, study):
    data = os.urandom(10_000)
    upload = start(coordinator, study, data)
    assert upload.received == 0 and uploads.part_path(upload).stat().st_size == 0
    for start_at, end in [(0, 4000), (4000, 8000)]:
        upload = send_range(coordinator, study, upload, data, start_at, end)
        assert (upload.received, upload.status) == (end, Upload.Status.RECEIVING)
    upload = send_range(coordinator, study, upload, data, 8000, 10_000)
    assert (upload.received, upload.status) == (10_000, Upload.Status.COMPLETE)
    assert uploads.part_path(upload).read_bytes() == data
    assert AuditEvent.objects.filter(action="upload_received", entity_id=str(upload.pk)).count() == 1


def test_a_chunk_at_another_offset_is_refused_with_the_offset_expected(coordinator, study):
    data = os.urandom(9000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 3000)
    for wrong in (0, 1500, 3001, 6000):
        with pytest.raises(uploads.OffsetMismatch) as refused:
            send_range(coordinator, study, upload, data, wrong, min(wrong + 1000, 9000))
        assert refused.value.expected == 3000
    assert uploads.part_path(upload).read_bytes() == data[:3000]


def test_the_last_chunk_sent_again_after_a_lost_answer_is_not_written_twice(coordinator, study):
    data = os.urandom(9000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 3000)
    send_range(coordinator, study, upload, data, 3000, 6000)
    again = send_range(coordinator, study, upload, data, 3000, 6000)  # the answer to the first was lost
    assert again.received == 6000
    assert uploads.part_path(upload).read_bytes() == data[:6000]
    other_bytes = data[:3000] + os.urandom(3000)
    with pytest.raises(uploads.OffsetMismatch):  # the same range with other bytes is no resend
        send_range(coordinator, study, upload, other_bytes, 3000, 6000)
    upload = send_range(coordinator, study, upload, data, 6000, 9000)
    assert uploads.part_path(upload).read_bytes() == data
    assert send_range(coordinator, study, upload, data, 6000, 9000).status == Upload.Status.COMPLETE


def test_a_chunk_cut_short_leaves_nothing_and_the_next_starts_where_the_last_whole_one_ended(coordinator, study):
    data = os.urandom(8000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 2000)
    with pytest.raises(InvalidInput, match="ended after 1500 of its 4000 bytes"):
        uploads.receive_chunk(actor=coordinator, study=study, upload_id=upload.pk, offset=2000, length=4000,
                              stream=io.BytesIO(data[2000:3500]))
    upload.refresh_from_db()
    assert upload.received == 2000 and uploads.part_path(upload).stat().st_size == 2000
    send_range(coordinator, study, upload, data, 2000, 8000)
    assert uploads.part_path(upload).read_bytes() == data


def test_bytes_past_the_offset_left_by_a_killed_process_are_cut_before_the_next_chunk(coordinator, study):
    data = os.urandom(8000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 2000)
    with uploads.part_path(upload).open("ab") as part:  # half a chunk written, then the process died
        part.write(b"\xff" * 1234)
    send_range(coordinator, study, upload, data, 2000, 8000)
    assert uploads.part_path(upload).read_bytes() == data


def test_a_second_chunk_while_one_is_written_is_refused(coordinator, study):
    data = os.urandom(4000)
    upload = start(coordinator, study, data)
    with uploads.part_path(upload).open("r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(uploads.ChunkInProgress, match="another chunk of this upload is being received"):
            send_range(coordinator, study, upload, data, 0, 4000)
    assert send_range(coordinator, study, upload, data, 0, 4000).status == Upload.Status.COMPLETE


def test_limits_of_a_file_and_a_chunk(coordinator, study, settings):
    settings.UPLOAD_MAX_BYTES = 5000
    with pytest.raises(UploadTooLarge, match="limit"):
        uploads.create_upload(actor=coordinator, study=study, file_name="big.zip", size=5001)
    with pytest.raises(InvalidInput, match="empty"):
        uploads.create_upload(actor=coordinator, study=study, file_name="empty.dcm", size=0)
    with pytest.raises(InvalidInput, match="control characters"):
        uploads.create_upload(actor=coordinator, study=study, file_name="a\nb.dcm", size=10)
    settings.UPLOAD_CHUNK_MAX_BYTES = 1000
    data = os.urandom(5000)
    upload = start(coordinator, study, data)
    with pytest.raises(UploadTooLarge, match="at most 1000 bytes"):
        send_range(coordinator, study, upload, data, 0, 1001)
    send_range(coordinator, study, upload, data, 0, 1000)
    with pytest.raises(InvalidInput, match="outside the file"):
        uploads.receive_chunk(actor=coordinator, study=study, upload_id=upload.pk, offset=4500, length=600,
                              stream=io.BytesIO(os.urandom(600)))
    assert Upload.objects.count() == 1


def test_only_those_who_may_change_the_study_upload_and_only_until_it_is_locked(coordinator, study, make_user):
    data = os.urandom(100)
    outsider = make_user("other_coord", Role.COORDINATOR)
    for user in (make_user("stat2", Role.STATISTICIAN), study.readers.first().user, outsider):
        with pytest.raises(NotAllowed):
            uploads.create_upload(actor=user, study=study, file_name="x.dcm", size=len(data))
    upload = start(coordinator, study, data)
    with pytest.raises(NotAllowed):
        send_range(outsider, study, upload, data, 0, 100)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.LOCKED)
    study.refresh_from_db()
    with pytest.raises(RuleViolation, match="images can no longer be added"):
        send_range(coordinator, study, upload, data, 0, 100)
    assert Upload.objects.count() == 1


def test_an_upload_is_found_again_by_its_fingerprint_by_the_same_user_only(coordinator, study, admin_user):
    data = os.urandom(3000)
    upload = start(coordinator, study, data, fingerprint="batch.zip:3000:1700000000")
    send_range(coordinator, study, upload, data, 0, 1000)
    again, created = uploads.create_upload(actor=coordinator, study=study, file_name="batch.zip", size=3000,
                                           fingerprint="batch.zip:3000:1700000000")
    assert (again.pk, again.received, created) == (upload.pk, 1000, False)
    _, created = uploads.create_upload(actor=admin_user, study=study, file_name="batch.zip", size=3000,
                                       fingerprint="batch.zip:3000:1700000000")
    assert created


def test_unfinished_uploads_per_user_and_study_are_limited(coordinator, study, settings):
    settings.UPLOAD_MAX_ACTIVE = 2
    first = start(coordinator, study, b"a" * 10, name="1.dcm")
    start(coordinator, study, b"b" * 10, name="2.dcm")
    with pytest.raises(RuleViolation, match="2 unfinished uploads"):
        uploads.create_upload(actor=coordinator, study=study, file_name="3.dcm", size=10)
    uploads.cancel_upload(actor=coordinator, study=study, upload_id=first.pk)
    start(coordinator, study, b"c" * 10, name="3.dcm")


def test_an_upload_the_volume_cannot_hold_is_refused_naming_the_space(coordinator, study, settings, monkeypatch):
    monkeypatch.setattr(uploads, "_free_bytes", lambda: 10 * 2**30)
    settings.UPLOAD_MIN_FREE_BYTES = 2 * 2**30
    with pytest.raises(uploads.InsufficientStorage, match="10.0 GiB free.* 9.0 GiB for this file.* 2.0 GiB must stay"
                       ) as refused:
        uploads.create_upload(actor=coordinator, study=study, file_name="big.zip", size=9 * 2**30)
    assert refused.value.status_code == 507
    assert not Upload.objects.exists()
    upload = start(coordinator, study, b"x" * 10)  # a small one fits
    monkeypatch.setattr(uploads, "_free_bytes", lambda: 2 * 2**30 + 5)  # the disk filled up meanwhile
    with pytest.raises(uploads.InsufficientStorage, match="nearly full"):
        send_range(coordinator, study, upload, b"x" * 10, 0, 10)
    assert uploads.part_path(upload).stat().st_size == 0


def test_unfinished_uploads_count_against_the_space_left(coordinator, study, settings, monkeypatch):
    monkeypatch.setattr(uploads, "_free_bytes", lambda: 10 * 2**30)
    settings.UPLOAD_MIN_FREE_BYTES = 2 * 2**30
    first, _ = uploads.create_upload(actor=coordinator, study=study, file_name="first.zip", size=5 * 2**30)
    with pytest.raises(uploads.InsufficientStorage, match="5.0 GiB still to come"):
        uploads.create_upload(actor=coordinator, study=study, file_name="second.zip", size=4 * 2**30)
    Upload.objects.filter(pk=first.pk).update(received=3 * 2**30)  # 2 GiB still to come: 4 GiB more fit
    uploads.create_upload(actor=coordinator, study=study, file_name="second.zip", size=4 * 2**30)


def test_cancel_deletes_the_bytes_and_the_upload_takes_no_more(coordinator, study):
    data = os.urandom(3000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 1000)
    uploads.cancel_upload(actor=coordinator, study=study, upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.CANCELLED and not uploads.part_path(upload).exists()
    with pytest.raises(RuleViolation, match="cancelled"):
        send_range(coordinator, study, upload, data, 1000, 3000)
    uploads.cancel_upload(actor=coordinator, study=study, upload_id=upload.pk)  # again: nothing more
    assert AuditEvent.objects.filter(action="upload_cancelled", entity_id=str(upload.pk)).count() == 1


def test_completing_imports_a_zip_storing_the_good_files_and_naming_the_bad_ones_reason(coordinator, study, complete):
    data = zip_of({"a/1.dcm": dicom_bytes(1), "a/2.dcm": dicom_bytes(2), "a/notes.txt": b"not an image"})
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, len(data))
    upload = complete(upload)
    assert upload.status == Upload.Status.IMPORTED and upload.job.kind == "ingest_dicom"
    report = upload.job.result
    assert (report["stored"], report["duplicates"]) == (2, 0)
    assert [(p["file"], p["kind"]) for p in report["rejected"]] == [("batch.zip:a/notes.txt", "not-dicom")]
    assert DicomInstance.objects.filter(series__dicom_study__study=study).count() == 2
    assert not uploads.part_path(upload).exists() and not any(staging_root().iterdir())
    assert AuditEvent.objects.filter(action="upload_imported", entity_id=str(upload.pk),
                                     after__job=upload.job.pk).exists()
    again = uploads.complete_upload(actor=coordinator, study=study, upload_id=upload.pk)  # its answer was lost
    assert again.job_id == upload.job_id and Job.objects.filter(kind="ingest_dicom").count() == 1


def test_the_same_files_uploaded_again_are_reported_already_stored_and_stored_once(coordinator, study, complete):
    data = zip_of({"1.dcm": dicom_bytes(1), "2.dcm": dicom_bytes(2)})
    for name in ("first.zip", "second.zip"):
        upload = start(coordinator, study, data, name=name)
        send_range(coordinator, study, upload, data, 0, len(data))
        upload = complete(upload)
    assert (upload.job.result["stored"], upload.job.result["duplicates"]) == (0, 2)
    assert DicomInstance.objects.filter(series__dicom_study__study=study).count() == 2


def test_a_single_dicom_file_is_imported(coordinator, study, complete):
    data = dicom_bytes(3)
    upload = start(coordinator, study, data, name="folder/img.dcm")
    send_range(coordinator, study, upload, data, 0, len(data))
    upload = complete(upload)
    assert upload.job.result["stored"] == 1


def test_a_broken_zip_stores_nothing_and_says_why(coordinator, study, complete):
    whole = zip_of({"1.dcm": dicom_bytes(1), "2.dcm": dicom_bytes(2)})
    data = whole[: len(whole) - 40]  # its central directory cut off
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, len(data))
    upload = complete(upload)
    assert upload.job.result["stored"] == 0
    assert [(p["file"], p["kind"]) for p in upload.job.result["rejected"]] == [("batch.zip", "bad-archive")]
    assert not DicomInstance.objects.exists()


def test_completing_before_every_byte_is_in_is_refused(coordinator, study):
    data = os.urandom(3000)
    upload = start(coordinator, study, data)
    send_range(coordinator, study, upload, data, 0, 1000)
    with pytest.raises(RuleViolation, match="1000 of the file's 3000 bytes"):
        uploads.complete_upload(actor=coordinator, study=study, upload_id=upload.pk)
    assert not Job.objects.exists()


def test_a_job_that_cannot_be_queued_leaves_the_bytes_for_another_attempt(coordinator, study, monkeypatch):
    data = dicom_bytes(4)
    upload = start(coordinator, study, data, name="img.dcm")
    send_range(coordinator, study, upload, data, 0, len(data))

    def refuse(**_):
        raise ConnectionError("broker down")

    monkeypatch.setattr(uploads, "enqueue_staged", refuse)
    with pytest.raises(ConnectionError):
        uploads.complete_upload(actor=coordinator, study=study, upload_id=upload.pk)
    upload.refresh_from_db()
    assert upload.status == Upload.Status.COMPLETE and uploads.part_path(upload).read_bytes() == data
    assert not any(staging_root().iterdir())


def test_the_sweep_drops_abandoned_uploads_and_orphaned_files_and_records_ended_imports(coordinator, study, settings,
                                                                                      complete):
    settings.UPLOAD_ABANDONED_AFTER_H = 24
    data = dicom_bytes(5)
    abandoned, fresh, imported = (start(coordinator, study, data, name=f"{n}.dcm") for n in ("old", "new", "done"))
    send_range(coordinator, study, imported, data, 0, len(data))
    complete(imported)
    Upload.objects.filter(pk=imported.pk).update(status=Upload.Status.IMPORTING)  # its outcome not yet recorded
    Upload.objects.filter(pk=abandoned.pk).update(updated_at=timezone.now() - timedelta(hours=25))
    orphan = uploads.parts_root() / "0123.part"
    orphan.write_bytes(b"left over")
    two_hours_ago = time.time() - 7200
    os.utime(orphan, (two_hours_ago, two_hours_ago))
    young_orphan = uploads.parts_root() / "4567.part"
    young_orphan.write_bytes(b"its upload is being created")

    done = uploads.sweep_uploads()

    assert done == {"abandoned": [str(abandoned.pk)], "imports_ended": [str(imported.pk)],
                    "orphans_removed": ["0123.part"]}
    abandoned.refresh_from_db()
    assert abandoned.status == Upload.Status.CANCELLED and "abandoned" in abandoned.error
    assert not uploads.part_path(abandoned).exists() and uploads.part_path(fresh).exists()
    assert young_orphan.exists()
    assert Upload.objects.get(pk=imported.pk).status == Upload.Status.IMPORTED
    event = AuditEvent.objects.get(action="upload_abandoned", entity_id=str(abandoned.pk))
    assert event.actor_username == "system"


def test_an_import_that_failed_fails_its_upload_with_the_reason(coordinator, study, complete):
    data = dicom_bytes(6)
    upload = start(coordinator, study, data, name="img.dcm")
    send_range(coordinator, study, upload, data, 0, len(data))
    upload = complete(upload)
    Upload.objects.filter(pk=upload.pk).update(status=Upload.Status.IMPORTING)
    Job.objects.filter(pk=upload.job_id).update(status=Job.Status.FAILED, message="the worker running this job was lost")
    upload = uploads.upload_of(actor=coordinator, study=study, upload_id=upload.pk)
    assert (upload.status, upload.error) == (Upload.Status.FAILED, "the worker running this job was lost")


def test_celery_beat_sweeps_uploads(coordinator, study, settings):
    from studies import tasks

    assert settings.CELERY_BEAT_SCHEDULE["sweep-uploads"]["task"] == tasks.sweep_uploads.name
    upload = start(coordinator, study, b"x" * 10)
    Upload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - timedelta(hours=48))
    assert tasks.sweep_uploads()["abandoned"] == [str(upload.pk)]
