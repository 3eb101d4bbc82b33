"""Who may search and retrieve which images: every DICOMweb route, every role, guessed UIDs."""

import pytest
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import timezone
from knox.models import AuthToken

from studies.models import DicomInstance, Study
from tests.dicomweb.test_stow import STOW_ROUTES  # every role of them tried there

ROLES = ["anonymous", "reader", "other_reader", "coordinator", "other_coordinator", "statistician", "admin"]
SEES_STUDY = {"reader", "coordinator", "statistician", "admin"}
ROUTES = {  # url name -> the UIDs it takes
    "dicomweb-study": ("study",),
    "dicomweb-study-metadata": ("study",),
    "dicomweb-series-search": ("study",),
    "dicomweb-series": ("study", "series"),
    "dicomweb-series-metadata": ("study", "series"),
    "dicomweb-instance-search": ("study", "series"),
    "dicomweb-instance": ("study", "series", "instance"),
    "dicomweb-instance-metadata": ("study", "series", "instance"),
    "dicomweb-frames": ("study", "series", "instance"),
    "dicomweb-rendered": ("study", "series", "instance"),
    "dicomweb-bulkdata": ("study", "series", "instance"),
    "dicomweb-study-instance-search": ("study",),
    "dicomweb-study-rendered": ("study",),
    "dicomweb-series-rendered": ("study", "series"),
    "dicomweb-frames-rendered": ("study", "series", "instance"),
    "dicomweb-study-thumbnail": ("study",),
    "dicomweb-series-thumbnail": ("study", "series"),
    "dicomweb-instance-thumbnail": ("study", "series", "instance"),
    "dicomweb-frames-thumbnail": ("study", "series", "instance"),
}
EXTRA = {"dicomweb-frames": {"frame_list": "1"}, "dicomweb-bulkdata": {"attribute_path": "7FE00010"},
         "dicomweb-frames-rendered": {"frame_list": "1"}, "dicomweb-frames-thumbnail": {"frame_list": "1"}}
# The searches no study scopes: their answers are filtered (test_qido.py), never refused.
UNSCOPED = {"dicomweb-studies", "dicomweb-all-series", "dicomweb-all-instances"}


@pytest.fixture
def imaged_world(shared_imaged_world) -> dict:
    """Built once for the module: a test here changes the world only in its own transaction and store."""
    return shared_imaged_world


def dicomweb_url_names() -> set[str]:
    return {name for name in get_resolver().reverse_dict if isinstance(name, str) and name.startswith("dicomweb-")}


def test_every_dicomweb_route_is_covered():
    assert dicomweb_url_names() == set(ROUTES) | UNSCOPED | STOW_ROUTES


def uids_of(case) -> dict:
    instance = DicomInstance.objects.select_related("series__dicom_study").get(series__dicom_study__case=case)
    return {"study": instance.series.dicom_study.study_instance_uid,
            "series": instance.series.series_instance_uid, "instance": instance.sop_instance_uid}


def url_for(name: str, uids: dict) -> str:
    return reverse(name, kwargs={**{key: uids[key] for key in ROUTES[name]}, **EXTRA.get(name, {})})


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def get(client, url):
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


CASES = [(name, role) for name in ROUTES for role in ROLES]


@pytest.mark.parametrize("name,role", CASES, ids=[f"{n}-{r}" for n, r in CASES])
def test_route_authorization(imaged_world, name, role):
    user = imaged_world["users"].get(role)
    response, _ = get(client_for(user), url_for(name, uids_of(imaged_world["open_case"])))
    if role == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Token")
    elif role in SEES_STUDY:
        assert response.status_code == 200, response.content
        assert "private" in response["Cache-Control"] and "public" not in response["Cache-Control"]
    else:
        assert response.status_code == 404


@pytest.mark.parametrize("name", ROUTES)
def test_reader_cannot_reach_another_readers_case(imaged_world, name):
    """Same study, a case assigned only to R02: the guessed UIDs answer 404 on every route."""
    response, _ = get(client_for(imaged_world["users"]["reader"]), url_for(name, uids_of(imaged_world["foreign_case"])))
    assert response.status_code == 404


@pytest.mark.parametrize("name", ROUTES)
def test_reader_sees_nothing_before_the_washout_ends(imaged_world, name):
    """Session 1 done, session 2 not open yet: the same case's images are closed to the reader."""
    from studies.models import ReadingSession

    url = url_for(name, uids_of(imaged_world["open_case"]))
    client = client_for(imaged_world["users"]["reader"])
    ReadingSession.objects.filter(reader__user=imaged_world["users"]["reader"], number=1).update(
        completed_at=timezone.now()
    )
    assert get(client, url)[0].status_code == 404


@pytest.mark.parametrize("name", [n for n, uids in ROUTES.items() if "series" in uids])
def test_guessed_series_and_instance_under_an_allowed_study_give_404(imaged_world, name):
    """The reader's own study UID with another case's series/instance UIDs: nothing leaks."""
    mine, other = uids_of(imaged_world["open_case"]), uids_of(imaged_world["foreign_case"])
    response, _ = get(client_for(imaged_world["users"]["reader"]), url_for(name, {**other, "study": mine["study"]}))
    assert response.status_code == 404


def test_reader_search_lists_only_open_session_studies(imaged_world):
    from studies.permissions import open_case_ids

    reader = imaged_world["users"]["reader"]
    response, body = get(client_for(reader), "/dicomweb/studies")
    listed = {study["0020000D"]["Value"][0] for study in response.json()} if response.status_code == 200 else None
    expected = set(imaged_world["study"].cases.filter(pk__in=open_case_ids(reader))
                   .values_list("study_instance_uid", flat=True))
    assert listed == expected and 0 < len(listed) < imaged_world["study"].cases.count()
    assert uids_of(imaged_world["foreign_case"])["study"] not in body.decode()


def test_outsider_coordinator_search_is_empty(imaged_world):
    response, _ = get(client_for(imaged_world["users"]["other_coordinator"]), "/dicomweb/studies")
    assert response.json() == []


def test_locking_the_study_closes_the_images_to_readers_not_to_staff(imaged_world):
    url = url_for("dicomweb-study-metadata", uids_of(imaged_world["open_case"]))
    reader, coordinator = client_for(imaged_world["users"]["reader"]), client_for(imaged_world["users"]["coordinator"])
    assert get(reader, url)[0].status_code == 200
    Study.objects.filter(pk=imaged_world["study"].pk).update(status=Study.Status.LOCKED)
    assert get(reader, url)[0].status_code == 404
    assert get(coordinator, url)[0].status_code == 200


def test_token_authentication(imaged_world):
    _, token = AuthToken.objects.create(user=imaged_world["users"]["coordinator"])
    url = url_for("dicomweb-instance-metadata", uids_of(imaged_world["open_case"]))
    assert Client(HTTP_AUTHORIZATION=f"Token {token}").get(url).status_code == 200
    response = Client(HTTP_AUTHORIZATION="Token not-a-token").get(url)
    assert response.status_code == 401 and "WWW-Authenticate" in response


def test_only_safe_methods(imaged_world):
    client = client_for(imaged_world["users"]["admin"])
    assert client.delete(url_for("dicomweb-study", uids_of(imaged_world["open_case"]))).status_code == 405
