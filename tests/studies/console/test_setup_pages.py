"""The console's set-up pages through the Django test client: a study from the form or a protocol
file, its settings and arms, status changes, and readers; each write through its service."""

import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from studies.models import AuditEvent, Study
from studies.services import schedule
from tests.studies.test_imports import billion_laughs

pytestmark = pytest.mark.django_db
EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "protocol.example.yaml"
NEW_STUDY = {"title": "Nodules", "protocol_version": "2", "design": "fully_crossed", "washout_days": "14",
             "block_size": "0", "rating_scale": "ordinal", "scale_min": "0", "scale_max": "100",
             "ordinal_labels": "normal\r\nprobably normal\r\nequivocal\r\nprobably abnormal\r\nabnormal\r\n",
             "binary_decision": "on", "decision_threshold": "4", "max_marks": "3", "froc_acceptance_radius": "20",
             "revision_policy": "audited"}


@pytest.fixture
def browser(coordinator) -> Client:
    client = Client()
    client.force_login(coordinator)
    return client


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return mail.outbox


def _text(response) -> str:
    return response.content.decode()


def test_the_study_list_shows_counts_and_the_next_step(browser, make_study):
    study = make_study(status="draft", n_readers=2, n_cases=4, arms=(("unaided", False),))
    response = browser.get("/console/")
    assert response.status_code == 200
    row = _text(response).split(f'href="/console/studies/{study.pk}/"')[1].split("</tr>")[0]
    cells = [cell.split("</td>")[0].strip() for cell in row.split("<td>")[1:]]
    assert cells[1:4] == ["1", "2", "4"]  # arms, readers, cases
    assert "Images:" in cells[4] and "0 of 4 case(s) linked" in cells[4]


def test_a_study_from_the_form(browser, coordinator):
    response = browser.post("/console/studies/new/", NEW_STUDY)
    study = Study.objects.get(title="Nodules")
    assert response.status_code == 302 and response["Location"] == f"/console/studies/{study.pk}/setup/"
    assert (study.protocol_version, study.washout_days, study.rating_scale, study.binary_decision,
            study.decision_threshold, study.max_marks, study.marks_enabled, study.revision_policy) == (
        "2", 14, "ordinal", True, 4.0, 3, False, "audited")
    assert study.ordinal_labels == ["normal", "probably normal", "equivocal", "probably abnormal", "abnormal"]
    assert study.memberships.filter(user=coordinator).exists()
    assert AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action="create").exists()


def test_a_refused_study_names_the_field_and_creates_nothing(browser):
    response = browser.post("/console/studies/new/", {**NEW_STUDY, "rating_scale": "ordinal", "ordinal_labels": "one"})
    assert response.status_code == 400
    assert "an ordinal scale needs at least 2 non-empty labels" in _text(response)
    assert not Study.objects.exists()
    response = browser.post("/console/studies/new/", {**NEW_STUDY, "washout_days": "soon"})
    assert response.status_code == 400 and "Enter a whole number" in _text(response)


def test_a_study_from_a_protocol_file(browser, make_user):
    make_user("coordinator", "coordinator")  # the example's member
    upload = SimpleUploadedFile("protocol.yaml", EXAMPLE.read_bytes())
    response = browser.post("/console/studies/new/protocol/", {"protocol": upload})
    study = Study.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/console/studies/{study.pk}/"
    assert list(study.arms.values_list("name", flat=True)) == ["unaided", "aided"]
    assert study.readers.count() == 3


def test_a_bad_protocol_file_is_named_by_line_and_field(browser):
    upload = SimpleUploadedFile("p.yaml", b"title: x\narms:\n  - {name: a}\nwashout_days: soon\n")
    response = browser.post("/console/studies/new/protocol/", {"protocol": upload})
    assert response.status_code == 400
    assert "line 4, field &#x27;washout_days&#x27;: must be int" in _text(response)
    assert not Study.objects.exists()


def test_settings_change_while_the_design_may(browser, make_study):
    study = make_study(status="draft", n_readers=0, n_cases=0)
    form = {**NEW_STUDY, "title": "Renamed", "rating_scale": "continuous", "washout_days": "7"}
    response = browser.post(f"/console/studies/{study.pk}/setup/", form)
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.title, study.washout_days, study.rating_scale) == ("Renamed", 7, "continuous")


def test_a_fixed_design_shows_why_and_only_the_title_changes(browser, make_study):
    study = make_study(status="reading", n_readers=2, n_cases=2)
    page = _text(browser.get(f"/console/studies/{study.pk}/setup/"))
    assert "The design is fixed: the design can only change in draft or enrolling" in page
    assert re.search(r'<input type="number" name="washout_days" value="28"[^>]* disabled', page)
    assert not re.search(r'<input type="text" name="title"[^>]* disabled', page)
    response = browser.post(f"/console/studies/{study.pk}/setup/", {**NEW_STUDY, "title": "Still reading"})
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.title, study.washout_days, study.rating_scale) == ("Still reading", 28, "continuous")


def test_arms_are_added_edited_and_ordered(browser, make_study):
    study = make_study(status="draft", n_readers=0, n_cases=0, arms=())
    base = f"/console/studies/{study.pk}/arms/"
    assert browser.post(base, {"name": "aided", "label": "With AI", "shows_ai": "on"}).status_code == 302
    assert browser.post(base, {"name": "unaided", "label": ""}).status_code == 302
    refused = browser.post(base, {"name": "aided"})
    assert refused.status_code == 400 and "arm &#x27;aided&#x27; already exists" in _text(refused)
    unaided = study.arms.get(name="unaided")
    assert browser.post(f"{base}{unaided.pk}/move/", {"by": "-1"}).status_code == 302
    assert list(study.arms.values_list("name", flat=True)) == ["unaided", "aided"]
    assert browser.post(f"{base}{unaided.pk}/", {"name": "control", "label": "Control"}).status_code == 302
    assert list(study.arms.values_list("name", "label", "shows_ai")) == [
        ("control", "Control", False), ("aided", "With AI", True)]


def test_an_arm_added_once_scheduled_is_refused_with_the_reason(browser, make_study, coordinator):
    study = make_study(status="enrolling", n_readers=2, n_cases=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    page = _text(browser.get(f"/console/studies/{study.pk}/setup/"))
    assert "The arms are fixed: arms are fixed once a schedule exists." in page and 'id="add-arm"' not in page
    response = browser.post(f"/console/studies/{study.pk}/arms/", {"name": "third_look"})  # the form, sent anyway
    assert response.status_code == 409 and "arms are fixed once a schedule exists" in _text(response)
    assert list(study.arms.values_list("name", flat=True)) == ["unaided", "aided"]


def test_transitions_and_the_schedule_call_the_services(browser, make_study, django_capture_on_commit_callbacks):
    study = make_study(status="draft", n_readers=2, n_cases=4)
    overview = _text(browser.get(f"/console/studies/{study.pk}/"))
    assert "Start enrolling" in overview and f"/console/studies/{study.pk}/readiness/" in overview
    assert browser.post(f"/console/studies/{study.pk}/transition/", {"to": "enrolling"}).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):  # the job is queued when its transaction commits
        assert browser.post(f"/console/studies/{study.pk}/schedule/", {"seed": "7"}).status_code == 302
    study.refresh_from_db()
    assert (study.status, study.schedule_seed, study.sessions.count() > 0) == ("enrolling", 7, True)
    refused = browser.post(f"/console/studies/{study.pk}/transition/", {"to": "analyzed"})
    assert refused.status_code == 409 and "a study cannot go from enrolling to analyzed" in _text(refused)


def test_readers_are_invited_listed_and_removed(browser, make_study, mailbox):
    study = make_study(status="draft", n_readers=0, n_cases=2)
    response = browser.post(f"/console/studies/{study.pk}/readers/",
                            {"name": "Ada Lovelace", "email": "ada@example.org", "code": "", "group": "0"})
    assert response.status_code == 302
    reader = study.readers.get()
    assert reader.code == "R01" and mailbox[0].to == ["ada@example.org"]
    assert "http://testserver/accounts/invite/" in mailbox[0].body
    page = _text(browser.get(f"/console/studies/{study.pk}/readers/"))
    row = page.split('data-reader="R01"')[1].split("</tr>")[0]
    assert "Ada Lovelace" in row and "invited" in row and "never" in row and "Re-send invitation" in row
    assert browser.post(f"/console/studies/{study.pk}/readers/{reader.pk}/resend/").status_code == 302
    assert len(mailbox) == 2
    refused = browser.post(f"/console/studies/{study.pk}/readers/", {"email": "nobody", "group": "0"})
    assert refused.status_code == 400 and "Enter a valid email address" in _text(refused)
    assert browser.post(f"/console/studies/{study.pk}/readers/{reader.pk}/remove/").status_code == 302
    assert not study.readers.exists()


def test_forms_need_their_csrf_token(coordinator, make_study):
    study = make_study(status="draft", n_readers=0, n_cases=0)
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    page = _text(client.get(f"/console/studies/{study.pk}/setup/"))
    assert page.count('name="csrfmiddlewaretoken"') >= 3  # settings, arm form, logout
    assert client.post(f"/console/studies/{study.pk}/arms/", {"name": "x"}).status_code == 403
    assert not study.arms.filter(name="x").exists()


def test_a_protocol_with_yaml_aliases_is_refused_before_it_is_expanded(browser):
    bomb = billion_laughs().encode()
    response = browser.post("/console/studies/new/protocol/", {"protocol": SimpleUploadedFile("p.yaml", bomb)})
    assert response.status_code == 400 and "line 2: YAML aliases (*name) are not allowed" in _text(response)
    assert not Study.objects.exists()
