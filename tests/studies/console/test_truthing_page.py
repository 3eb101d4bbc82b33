"""The console's truthing page: the rule set from its form (a bad value refused on its field, nothing stored), the
panel built from usernames (a non-truther refused by name), the rule fixed once a label exists, and Finalize refused
while the panel has not finished, naming the cases."""

import uuid

import pytest
from django.test import Client

from studies.models import Role, Study
from studies.services import truthing
from tests.conftest import create_study, create_user

pytestmark = pytest.mark.django_db

FORM = {"rounds": "2", "marks": ["box", "point"], "iou": "0.4", "point_radius": "12", "kappa": "0.6", "dice": "",
        "final": "majority"}


@pytest.fixture
def study(coordinator) -> Study:
    return create_study(coordinator, n_readers=1, n_cases=3, arms=(("unaided", False),), status=Study.Status.DRAFT)


@pytest.fixture
def client(coordinator) -> Client:
    client = Client()
    client.force_login(coordinator)
    return client


def _url(study: Study, part: str = "") -> str:
    return f"/console/studies/{study.pk}/truthing/{part}"


def test_the_rule_is_set_from_the_form_and_a_bad_value_is_refused_on_its_field(client, study):
    page = client.get(_url(study)).content.decode()
    assert "No truthing rule: the study's truth is imported." in page and 'id="truthing-agreement"' not in page

    refused = client.post(_url(study, "rule/"), {**FORM, "iou": "1.5"})
    assert refused.status_code == 400
    assert "must be a number above 0 and at most 1" in refused.content.decode().split('name="iou"')[1][:400]
    study.refresh_from_db()
    assert study.truthing == {}

    assert client.post(_url(study, "rule/"), FORM).status_code == 302
    study.refresh_from_db()
    assert study.truthing == {"rounds": 2, "marks": ["box", "point"], "matching": {"iou": 0.4, "point_radius": 12.0},
                              "thresholds": {"kappa": 0.6}, "final": "majority"}
    page = client.get(_url(study)).content.decode()
    assert ("2 rounds (blinded, then unblinded) · marks: box, point · matching: IoU ≥ 0.4, points within 12.0 px · "
            "final truth: majority") in page


def test_the_panel_is_built_from_usernames_and_fixed_once_a_case_is_labelled(client, study):
    client.post(_url(study, "rule/"), FORM)
    refused = client.post(_url(study, "members/"), {"username": "reader1"})
    assert refused.status_code == 400 and "&#x27;reader1&#x27; is a reader, not a truther" in refused.content.decode()
    for name in ("expert1", "expert2", "chief"):
        create_user(name, Role.TRUTHER)
    for name, adjudicator in (("expert1", False), ("expert2", False), ("chief", True)):
        body = {"username": name, "adjudicator": "on"} if adjudicator else {"username": name}
        assert client.post(_url(study, "members/"), body).status_code == 302
    assert {m.user.username: (m.code, m.is_adjudicator) for m in study.truthing_members.all()} == {
        "expert1": ("E1", False), "expert2": ("E2", False), "chief": ("A1", True)}
    page = client.get(_url(study)).content.decode()
    assert page.count('<td class="progress">0 / 3</td>') == 4  # two truthers, two rounds
    assert 'id="rule-form"' in page

    expert1 = study.truthing_members.get(code="E1")
    truthing.submit_label(user=expert1.user, study_id=study.pk, case_id=study.cases.first().pk, round=1,
                          idempotency_key=uuid.uuid4(), label=0, lesions=[])
    page = client.get(_url(study)).content.decode()
    assert "The rule is fixed: the truthing rule and panel are fixed once a truther has labelled a case." in page
    assert 'id="rule-form"' not in page and 'id="member-form"' not in page  # the adjudicator is chosen already
    assert '<td class="progress">1 / 3</td>' in page.split('data-member="E1"')[1].split("</tr>")[0]
    removed = client.post(_url(study, f"members/{expert1.pk}/remove/"))
    assert removed.status_code == 409 and study.truthing_members.filter(pk=expert1.pk).exists()

    finalized = client.post(_url(study, "finalize/"))
    assert finalized.status_code == 409
    assert "3 case(s) lack a truther&#x27;s round-2 label: C000, C001, C002" in finalized.content.decode()
    assert not study.cases.exclude(truth_method="").filter(truth_provenance__source="panel").exists()
