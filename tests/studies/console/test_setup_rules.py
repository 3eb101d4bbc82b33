"""The qualification rule and the declared subgroups on the set-up page, and the subgroups service the
protocol file and the page share: each error on its field, nothing stored; fixed when the rules say."""

import re

import pytest
from django.test import Client

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent, Study
from studies.services import imports, subgroups
from tests.studies.training_world import train, training_study

pytestmark = pytest.mark.django_db

FULL_RULE = {"min_cases": "4", "arms": ["aided", "unaided"], "min_auc": "0.8", "min_agreement": "0.7",
             "positives_above_negatives": "on", "min_categories": "3", "min_spread": "0.5"}


@pytest.fixture
def browser(coordinator) -> Client:
    client = Client()
    client.force_login(coordinator)
    return client


@pytest.fixture
def draft(make_study):
    """Cases C000..C003 with the metadata column ``site``; no decision threshold yet."""
    return make_study(status="draft", n_readers=2, n_cases=4)


def _text(response) -> str:
    return response.content.decode()


def _field_errors(page: str, field: str) -> str:
    """The errors Django renders for the form field ``field`` (the list its input names in aria-describedby)."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    return match.group(1) if match else ""


# ---------------------------------------------------------------- the qualification rule


def test_the_whole_rule_is_set_from_the_page_in_the_order_ticked(browser, draft):
    draft.decision_threshold = 50
    draft.save()
    response = browser.post(f"/console/studies/{draft.pk}/qualification/", FULL_RULE)
    assert response.status_code == 302 and response["Location"] == f"/console/studies/{draft.pk}/setup/"
    draft.refresh_from_db()
    assert draft.qualification == {"min_cases": 4, "arms": ["aided", "unaided"], "min_auc": 0.8, "min_agreement": 0.7,
                                   "calibration": {"positives_above_negatives": True, "min_categories": 3,
                                                   "min_spread": 0.5}}
    event = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(draft.pk), action="update").latest("seq")
    assert event.before["qualification"] == {} and event.after["qualification"]["min_cases"] == 4
    page = _text(browser.get(f"/console/studies/{draft.pk}/setup/"))
    form = page.split('id="qualification"')[1].split("</section>")[0]
    assert re.search(r'name="min_auc" value="0.8"', form) and re.search(r'name="min_spread" value="0.5"', form)
    ticked = re.findall(r'<input type="checkbox" name="arms" value="(\w+)"[^>]*checked', form)
    assert ticked == ["aided", "unaided"]  # the rule's order, which saving the form again keeps


def test_a_form_left_empty_requires_no_qualification(browser, draft, coordinator):
    from studies.services import qualification

    qualification.set_rule(actor=coordinator, study=draft, rule={"min_cases": 2})
    response = browser.post(f"/console/studies/{draft.pk}/qualification/", {"min_cases": ""})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.qualification == {}


@pytest.mark.parametrize("sent,field,message", [
    ({"min_cases": "4", "min_auc": "2"}, "min_auc", "must be a number above 0.5 and at most 1"),
    ({"min_cases": "0"}, "min_cases", "must be a whole number from 1 to 1000"),
    ({"min_auc": "0.8"}, "min_cases", "is required when a qualification rule is given"),
    ({"min_cases": "4", "min_agreement": "0.7"}, "min_agreement", "needs the study&#x27;s yes/no decision"),
    ({"min_cases": "4", "min_spread": "0"}, "min_spread", "must be a number above 0 and at most 1"),
    ({"min_cases": "4", "min_categories": "1"}, "min_categories", "must be a whole number from 2 to 1000"),
    ({"min_cases": "4", "min_auc": "high"}, "min_auc", "Enter a number."),
    ({"min_cases": "4", "arms": ["other"]}, "arms", "Select a valid choice. other is not one of the available"),
])
def test_each_error_is_shown_on_its_field_and_nothing_is_stored(browser, draft, sent, field, message):
    response = browser.post(f"/console/studies/{draft.pk}/qualification/", sent)
    assert response.status_code == 400
    assert message in _field_errors(_text(response), field)
    draft.refresh_from_db()
    assert draft.qualification == {}


def test_the_rule_is_fixed_once_a_training_read_exists(browser, coordinator):
    study = training_study(coordinator, rule={"min_cases": 2})
    train(study.readers.get(code="R01"), study.cases.get(label="T00"), "unaided", 70)
    page = _text(browser.get(f"/console/studies/{study.pk}/setup/"))
    form = page.split('id="qualification"')[1].split("</section>")[0]
    assert "The rule is fixed: the qualification rule can only change in draft or enrolling, before any training read" \
        in form
    assert re.search(r'<input type="number" name="min_cases" value="2"[^>]* disabled', form)
    assert "Save qualification rule" not in form
    response = browser.post(f"/console/studies/{study.pk}/qualification/", {"min_cases": "3"})  # sent anyway
    assert response.status_code == 409
    assert "before any training read" in _text(response).split('id="qualification"')[1].split("</form>")[0]
    study.refresh_from_db()
    assert study.qualification == {"min_cases": 2}


# ---------------------------------------------------------------- subgroups: the service


def test_subgroups_are_declared_audited_and_validated_like_the_protocol(draft, coordinator):
    subgroups.set_subgroups(actor=coordinator, study=draft, names=["site", "sex"])
    draft.refresh_from_db()
    assert draft.subgroups == ["site", "sex"]
    event = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(draft.pk), action="update").latest("seq")
    assert (event.before["subgroups"], event.after["subgroups"]) == ([], ["site", "sex"])
    for names, field, message in [(["site", "truth"], "subgroups[1]", "column of the truth file or the reads export"),
                                  (["reader"], "subgroups[0]", "column of the truth file or the reads export"),
                                  (["site", "site"], "subgroups[1]", "'site' is listed twice"),
                                  ([" "], "subgroups[0]", "must be the name of a case metadata column"),
                                  ("site", "subgroups", "must be a list")]:
        with pytest.raises(InvalidInput, match=re.escape(message)) as refused:
            subgroups.set_subgroups(actor=coordinator, study=draft, names=names)
        assert refused.value.field == field
    draft.refresh_from_db()
    assert draft.subgroups == ["site", "sex"]


def test_subgroups_are_fixed_once_reading_starts_and_only_for_those_who_set_up(make_study, coordinator, statistician):
    study = make_study(status="reading", n_readers=2, n_cases=2)
    with pytest.raises(RuleViolation, match="the declared subgroups can only change while the study is draft or "
                                            "enrolling"):
        subgroups.set_subgroups(actor=coordinator, study=study, names=["site"])
    with pytest.raises(NotAllowed):
        subgroups.set_subgroups(actor=statistician, study=study, names=["site"])
    assert Study.objects.get(pk=study.pk).subgroups == []


def test_the_names_offered_are_the_study_cases_metadata(coordinator):
    study = training_study(coordinator, rule={})  # training cases carry a metadata column of their own
    assert subgroups.metadata_names(study) == ["site"]


# ---------------------------------------------------------------- subgroups: the page


def test_subgroups_are_chosen_among_the_metadata_names(browser, draft, coordinator):
    imports.import_truth(actor=coordinator, study=draft, data=b"case,truth,sex\nC000,0,F\nC001,1,M\n")
    page = _text(browser.get(f"/console/studies/{draft.pk}/setup/"))
    form = page.split('id="subgroups"')[1].split("</section>")[0]
    assert re.findall(r'<input type="checkbox" name="subgroups" value="(\w+)"', form) == ["sex", "site"]
    response = browser.post(f"/console/studies/{draft.pk}/subgroups/", {"subgroups": ["site", "sex"]})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.subgroups == ["site", "sex"]
    form = _text(browser.get(f"/console/studies/{draft.pk}/setup/")).split('id="subgroups"')[1].split("</section>")[0]
    assert re.findall(r'name="subgroups" value="(\w+)"[^>]*checked', form) == ["site", "sex"]
    assert browser.post(f"/console/studies/{draft.pk}/subgroups/", {}).status_code == 302  # none ticked: none
    draft.refresh_from_db()
    assert draft.subgroups == []


def test_a_metadata_column_named_like_an_export_column_is_refused_on_the_field(browser, draft, coordinator):
    imports.import_truth(actor=coordinator, study=draft, data=b"case,truth,rating\nC000,0,high\n")
    response = browser.post(f"/console/studies/{draft.pk}/subgroups/", {"subgroups": ["site", "rating"]})
    assert response.status_code == 400
    errors = _text(response).split('id="subgroups"')[1].split("</fieldset>")[0]
    assert "&#x27;rating&#x27; is a column of the truth file or the reads export, not case metadata" in errors
    draft.refresh_from_db()
    assert draft.subgroups == []


def test_without_metadata_the_page_says_where_the_names_come_from(browser, make_study):
    study = make_study(status="draft", n_readers=0, n_cases=0)
    form = _text(browser.get(f"/console/studies/{study.pk}/setup/")).split('id="subgroups"')[1].split("</section>")[0]
    assert "The cases have no metadata yet: import a truth file with metadata columns" in form
    assert "Save subgroups" not in form


def test_subgroups_sent_while_reading_are_refused_with_the_reason(browser, make_study):
    study = make_study(status="reading", n_readers=2, n_cases=2)
    page = _text(browser.get(f"/console/studies/{study.pk}/setup/"))
    assert "The subgroups are fixed: the declared subgroups can only change while the study is draft or enrolling" \
        in page
    response = browser.post(f"/console/studies/{study.pk}/subgroups/", {"subgroups": ["site"]})  # sent anyway
    assert response.status_code == 409
    form = _text(response).split('id="subgroups"')[1].split("</form>")[0]
    assert "the declared subgroups can only change while the study is draft or enrolling" in form
    assert Study.objects.get(pk=study.pk).subgroups == []
