"""The Django pages that host the reading workstation (no browser needed)."""

import json

import pytest
from django.test import Client

from studies.models import ReadingSession
from studies.pages import viewer

pytestmark = pytest.mark.django_db


@pytest.fixture
def built_viewer(settings, tmp_path):
    manifest = tmp_path / ".vite" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"index.html": {"file": "assets/index-abc.js", "css": ["assets/index-def.css"]}}))
    settings.VIEWER_DIST = tmp_path
    return tmp_path


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_worklist_shows_progress_washout_and_resume(make_study):
    study = make_study(n_readers=1, n_cases=4)
    reader = study.readers.get().user
    body = _client(reader).get("/read/").content.decode()
    first, second = ReadingSession.objects.filter(study=study).order_by("number")
    assert f'href="/read/sessions/{first.pk}/?assignment=' in body
    assert "0 of 4 cases read" in body and "<progress" in body
    assert "Opens on" in body and "washout" in body
    assert f"/read/sessions/{second.pk}/" not in body


def test_reading_page_loads_the_bundle_and_carries_no_case_data(make_study, built_viewer):
    study = make_study(n_readers=1, n_cases=4)
    session = ReadingSession.objects.filter(study=study).order_by("number").first()
    response = _client(study.readers.get().user).get(f"/read/sessions/{session.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<script type="module" src="/static/viewer/assets/index-abc.js">' in body
    assert "/static/viewer/assets/index-def.css" in body
    assert "csrftoken" in response.cookies
    config = json.loads(body.split('id="rw-config" type="application/json">')[1].split("</script>")[0])
    assert config["sessionId"] == session.pk
    for leak in ("1.2.3.", "truth", "model", "score"):
        assert leak not in body


def test_reading_page_without_a_built_viewer_says_how_to_build_it(make_study, settings, tmp_path):
    settings.VIEWER_DIST = tmp_path / "missing"
    viewer._cache.clear()
    study = make_study(n_readers=1, n_cases=2)
    session = ReadingSession.objects.filter(study=study).first()
    response = _client(study.readers.get().user).get(f"/read/sessions/{session.pk}/")
    assert response.status_code == 503
    assert "make viewer" in response.content.decode()


def test_only_the_sessions_reader_opens_it(make_study, make_user, coordinator):
    study = make_study(n_readers=2, n_cases=2)
    first, other = study.readers.order_by("id")
    session = ReadingSession.objects.filter(reader=first).first()
    assert _client(other.user).get(f"/read/sessions/{session.pk}/").status_code == 404
    assert _client(coordinator).get("/read/").status_code == 403
    assert _client(coordinator).get(f"/read/sessions/{session.pk}/").status_code == 403
    assert Client().get("/read/").status_code == 302  # to the login page
