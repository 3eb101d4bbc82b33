"""A truther's pages: home sends them to their truthing worklist, which shows each panel they are on with the round
open to them; the workstation's truthing page opens for a study whose panel they are on and for no other."""

import json
import re

import pytest
from django.test import Client

from studies.models import Role, Study
from studies.pages.viewer import ViewerAssets
from studies.services import truthing
from tests.conftest import create_study, create_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def viewer_built(monkeypatch):
    monkeypatch.setattr("studies.pages.truthing.viewer_assets", lambda: ViewerAssets("/static/viewer/app.js", ()))


@pytest.fixture
def study(coordinator) -> Study:
    study = create_study(coordinator, n_readers=0, n_cases=2, arms=(("unaided", False),), status=Study.Status.DRAFT)
    truthing.set_rule(actor=coordinator, study=study, rule={"rounds": 2, "marks": ["box"], "final": "adjudicated"})
    for name in ("e1", "e2", "chief"):
        truthing.add_member(actor=coordinator, study=study, user=create_user(name, Role.TRUTHER),
                            adjudicator=name == "chief")
    return study


def _client(username: str) -> Client:
    from studies.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


def test_a_truther_lands_on_their_panels_and_opens_the_workstation_in_truthing_mode(study):
    client = _client("e1")
    assert client.get("/")["Location"] == "/read/truthing/"
    page = client.get("/read/truthing/").content.decode()
    card = page.split(f'data-truthing-study="{study.pk}"')[1].split("</article>")[0]
    assert "E1 · round 1, blinded" in card and "0 of 2 cases labelled in round 1" in card
    assert f'href="/read/truthing/studies/{study.pk}/">Start round 1</a>' in card
    workstation = client.get(f"/read/truthing/studies/{study.pk}/")
    assert workstation.status_code == 200
    config = json.loads(re.search(r'<script id="rw-config" type="application/json">(.*?)</script>',
                                  workstation.content.decode()).group(1))
    assert config == {"truthingStudyId": study.pk, "apiRoot": "/api/v1", "dicomwebRoot": "/dicomweb",
                      "worklistUrl": "/read/truthing/", "user": "e1"}
    assert "<title>Truthing · " in workstation.content.decode()


def test_the_adjudicator_waits_for_the_experts_and_an_outsider_sees_no_panel(study):
    card = _client("chief").get("/read/truthing/").content.decode()
    assert "A1 · adjudicator" in card and "Waiting for the experts' labels" in card and 'class="button"' not in card
    assert "Disputes come once every expert has labelled every case" in card
    create_user("outsider", Role.TRUTHER)
    outsider = _client("outsider")
    assert "You are on no truthing panel." in outsider.get("/read/truthing/").content.decode()
    assert outsider.get(f"/read/truthing/studies/{study.pk}/").status_code == 404
    assert _client("coord").get("/read/truthing/").status_code == 403
