"""Every DICOM-level file of the hostile corpus, and a part over the size limit, in one STOW-RS request.

Each part is answered on its own: a failed one in the Failed SOP Sequence with the Failure Reason
of its reason class (PS3.18 Table I.2-2, as the STOW service declares them) and nothing of it
stored; the good ones around it stored, one stored file per index row.
"""

from django.test import Client
from knox.models import AuthToken

from studies.models import DicomInstance
from tests.hostile.test_hostile_ingest import check_store

MiB = 1 << 20
BOUNDARY = "hostile-parts"
FAILURE_REASON_OF_KIND = {
    "too-large": 0xA700, "too-deep": 0xA700,  # Refused: out of resources
    "missing-attribute": 0xA900, "pixel-length": 0xA900,  # Error: data set does not match SOP class
    "sop-class": 0x0122,  # Referenced SOP Class not supported
    "not-dicom": 0xC000, "truncated": 0xC000, "invalid-vr": 0xC000, "invalid-uid": 0xC000,  # cannot understand
    "charset": 0xC000, "decode": 0xC000,
}


def body(parts: list[bytes]) -> bytes:
    return b"".join(f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
                    for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def test_every_hostile_file_in_one_stow_request(hostile_corpus, make_study, coordinator, store, settings):
    settings.INGEST_MAX_FILE_BYTES = 4 * MiB  # over every file of the corpus
    study = make_study(n_readers=1, n_cases=2, status="draft")
    cases = [case for case in hostile_corpus if case.path.parent.name == "dicom"]
    over_the_limit = cases[0].path.read_bytes() + bytes(5 * MiB)
    parts = [case.path.read_bytes() for case in cases] + [over_the_limit]
    client = Client(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=coordinator)[1]}")

    response = client.post(f"/dicomweb/studies-of/{study.pk}/studies", data=body(parts),
                           content_type=f'multipart/related; type="application/dicom"; boundary={BOUNDARY}')

    assert response.status_code == 202, response.content
    answer = response.json()
    failed = answer["00081198"]["Value"]
    expected = [FAILURE_REASON_OF_KIND[case.kind] for case in cases if case.outcome == "rejected"] + [0xA700]
    assert [item["00081197"]["Value"][0] for item in failed] == expected
    assert all("Value" not in item["00081155"] for item in failed)  # none could be parsed
    stored = sum(case.outcome == "stored" for case in cases)
    assert stored and len(answer["00081199"]["Value"]) == stored
    check_store(store, stored)
    assert DicomInstance.objects.filter(series__dicom_study__study=study).count() == stored
    assert f"part {len(parts)} [too-large]" not in response["Warning"]  # past the first ten: counted
    assert f"{len(failed) - 10} more failed parts" in response["Warning"]
