"""Set-up changes beyond the study service: editing and ordering arms, removing a reader."""

import pytest

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent
from studies.services import schedule, study_setup
from studies.services import studies as study_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(make_study):
    return make_study(status="draft", n_readers=2, n_cases=2,
                      arms=(("unaided", False), ("aided", True), ("second_look", False)))


def _arm_names(study):
    return list(study.arms.order_by("order").values_list("name", flat=True))


def test_an_arm_is_renamed_relabelled_and_its_ai_switched(draft, coordinator):
    arm = draft.arms.get(name="second_look")
    study_setup.update_arm(actor=coordinator, arm=arm, name="ai_second", label="AI second look", shows_ai=True)
    arm.refresh_from_db()
    assert (arm.name, arm.label, arm.shows_ai) == ("ai_second", "AI second look", True)
    event = AuditEvent.objects.filter(entity="studies.Arm", entity_id=str(arm.pk), action="update").latest("seq")
    assert event.before["name"] == "second_look" and event.after["name"] == "ai_second"


def test_arm_names_stay_unique(draft, coordinator):
    with pytest.raises(InvalidInput, match="arm 'aided' already exists") as refused:
        study_setup.update_arm(actor=coordinator, arm=draft.arms.get(name="unaided"), name="aided", label="",
                               shows_ai=False)
    assert refused.value.field == "name"


def test_arms_move_up_and_down_and_stop_at_the_ends(draft, coordinator):
    study_setup.move_arm(actor=coordinator, arm=draft.arms.get(name="second_look"), by=-1)
    assert _arm_names(draft) == ["unaided", "second_look", "aided"]
    study_setup.move_arm(actor=coordinator, arm=draft.arms.get(name="unaided"), by=1)
    assert _arm_names(draft) == ["second_look", "unaided", "aided"]
    study_setup.move_arm(actor=coordinator, arm=draft.arms.get(name="second_look"), by=-1)
    assert _arm_names(draft) == ["second_look", "unaided", "aided"]
    assert sorted(draft.arms.values_list("order", flat=True)) == [0, 1, 2]


def test_arms_and_readers_are_fixed_once_scheduled(make_study, coordinator):
    study = make_study(status="enrolling", n_readers=2, n_cases=2)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    arm = study.arms.first()
    assert study_services.arms_fixed_because(study) == "arms are fixed once a schedule exists"
    with pytest.raises(RuleViolation, match="fixed once a schedule exists"):
        study_setup.update_arm(actor=coordinator, arm=arm, name="x", label="", shows_ai=False)
    with pytest.raises(RuleViolation):
        study_setup.move_arm(actor=coordinator, arm=arm, by=1)
    reader = study.readers.first()
    with pytest.raises(RuleViolation, match=f"{reader.code} is in the reading schedule"):
        study_setup.remove_reader(actor=coordinator, reader=reader)


def test_a_reader_is_removed_while_unscheduled_and_the_account_stays(draft, coordinator):
    reader = draft.readers.get(code="R01")
    study_setup.remove_reader(actor=coordinator, reader=reader)
    assert list(draft.readers.values_list("code", flat=True)) == ["R02"]
    assert reader.user.__class__.objects.filter(pk=reader.user_id).exists()
    assert AuditEvent.objects.filter(entity="studies.Reader", entity_id=str(reader.pk), action="delete").exists()


def test_a_scheduled_reader_stays(make_study, coordinator, statistician):
    study = make_study(status="reading", n_readers=2, n_cases=2)
    reader = study.readers.first()
    with pytest.raises(RuleViolation, match="readers can only change while the study is draft or enrolling"):
        study_setup.remove_reader(actor=coordinator, reader=reader)
    with pytest.raises(NotAllowed):
        study_setup.remove_reader(actor=statistician, reader=reader)
    assert study.readers.count() == 2


def test_no_arm_is_added_once_a_schedule_exists(make_study, coordinator, api):
    study = make_study(status="enrolling", n_readers=2, n_cases=2)
    study_services.add_arm(actor=coordinator, study=study, name="second_look")  # enrolling, no schedule yet
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    with pytest.raises(RuleViolation, match="^arms are fixed once a schedule exists$"):
        study_services.add_arm(actor=coordinator, study=study, name="third_look")
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/arms/", {"name": "third_look", "label": "Third look"},
                                     format="json")
    assert response.status_code == 409 and response.json()["detail"] == "arms are fixed once a schedule exists"
    assert _arm_names(study) == ["unaided", "aided", "second_look"]


def test_no_arm_is_added_once_reading_has_started(make_study, coordinator, api):
    study = make_study(status="reading", n_readers=2, n_cases=2)
    with pytest.raises(RuleViolation, match="^arms can only change while the study is draft or enrolling$"):
        study_services.add_arm(actor=coordinator, study=study, name="third_look")
    response = api(coordinator).post(f"/api/v1/studies/{study.pk}/arms/", {"name": "third_look", "label": "Third look"},
                                     format="json")
    assert response.status_code == 409
    assert _arm_names(study) == ["unaided", "aided"]


def test_an_arm_the_qualification_rule_names_is_not_renamed_under_it(draft, coordinator):
    from studies.services import qualification

    qualification.set_rule(actor=coordinator, study=draft, rule={"min_cases": 2, "arms": ["aided"]})
    aided = draft.arms.get(name="aided")
    with pytest.raises(RuleViolation, match="the qualification rule's training arms name 'aided': take it out of the "
                                            "rule before renaming it"):
        study_setup.update_arm(actor=coordinator, arm=aided, name="ai", label="", shows_ai=True)
    study_setup.update_arm(actor=coordinator, arm=aided, name="aided", label="With AI", shows_ai=True)  # same name
    study_setup.update_arm(actor=coordinator, arm=draft.arms.get(name="unaided"), name="control", label="",
                           shows_ai=False)  # an arm the rule does not name
    assert _arm_names(draft) == ["control", "aided", "second_look"]
    draft.refresh_from_db()
    assert [arm.name for arm in qualification.training_arms(draft)] == ["aided"]


def test_whether_an_arm_shows_the_ai_is_fixed_once_training_cases_were_read_in_it(coordinator):
    from tests.studies.training_world import train, training_study

    study = training_study(coordinator, rule={"min_cases": 2})
    unaided = study.arms.get(name="unaided")
    train(study.readers.get(code="R01"), study.cases.get(label="T00"), "unaided", 70)
    with pytest.raises(RuleViolation, match="training cases were read in 'unaided' as it hides the AI: whether it "
                                            "shows the AI is fixed$"):
        study_setup.update_arm(actor=coordinator, arm=unaided, name="unaided", label="", shows_ai=True)
    study_setup.update_arm(actor=coordinator, arm=unaided, name="unaided", label="Without AI", shows_ai=False)
    aided = study.arms.get(name="aided")  # no training read in it yet
    study_setup.update_arm(actor=coordinator, arm=aided, name="aided", label="", shows_ai=False)
    assert list(study.arms.values_list("label", "shows_ai").order_by("order")) == [("Without AI", False),
                                                                                   ("aided", False)]


def test_a_reader_who_read_training_cases_stays_and_the_page_says_why(coordinator):
    from django.test import Client

    from tests.studies.training_world import train, training_study

    study = training_study(coordinator, rule={"min_cases": 2})
    trained = study.readers.get(code="R01")
    train(trained, study.cases.get(label="T00"), "unaided", 70)
    with pytest.raises(RuleViolation, match="^R01 has read training cases: their qualification reads are kept$"):
        study_setup.remove_reader(actor=coordinator, reader=trained)
    browser = Client()
    browser.force_login(coordinator)
    page = browser.get(f"/console/studies/{study.pk}/readers/").content.decode()
    rows = {code: page.split(f'data-reader="{code}"')[1].split("</tr>")[0] for code in ("R01", "R02")}
    assert "kept: R01 has read training cases" in rows["R01"] and "Remove</button>" not in rows["R01"]
    assert "Remove</button>" in rows["R02"]
    study_setup.remove_reader(actor=coordinator, reader=study.readers.get(code="R02"))
    assert list(study.readers.values_list("code", flat=True)) == ["R01"]
