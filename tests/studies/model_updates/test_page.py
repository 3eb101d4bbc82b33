"""The statisticians' page of locked evaluations: lock one, evaluate an update from a CSV, read the verdicts."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from studies.models import LockedEvaluation, ModelUpdateEvaluation, Role

from .world import CRITERIA, FAILING, PASSING


def page(study) -> str:
    return f"/analysis/studies/{study.pk}/evaluations/"


def lock_on_page(client, study, criteria=CRITERIA):
    return client.post(page(study), {"form": "lock", "name": "PCCP 2026", "criteria": json.dumps(criteria),
                                     "options": ""})


def look_on_page(client, study, evaluation, scores, version):
    text = "case,score\n" + "".join(f"{case},{score}\n" for case, score in scores.items())
    return client.post(page(study), {"form": "look", "evaluation": evaluation.pk, "model_name": "detector",
                                     "model_version": version, "operating_point": "0.5",
                                     "file": SimpleUploadedFile("scores.csv", text.encode())})


def test_a_statistician_locks_evaluates_two_updates_and_reads_why_one_failed(client, locked_study, statistician):
    client.force_login(statistician)
    empty = client.get(page(locked_study)).content.decode()
    assert "No locked evaluation yet" in empty
    assert "&quot;variable&quot;: &quot;site&quot;" in empty  # the example plan uses the study's site
    response = lock_on_page(client, locked_study)
    evaluation = LockedEvaluation.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"#evaluation-{evaluation.pk}")
    assert look_on_page(client, locked_study, evaluation, PASSING, "2.0").status_code == 302
    assert look_on_page(client, locked_study, evaluation, FAILING, "2.1").status_code == 302
    text = client.get(page(locked_study)).content.decode()
    assert evaluation.cases_sha256 in text and evaluation.truth_sha256 in text and evaluation.plan_sha256 in text
    assert "test set used 2 times" in text
    look_2 = text[text.index("Look 2: detector 2.1"):]
    assert re.search(r'Look 2: detector 2.1 <span class="verdict fail">FAIL', text)
    assert re.search(r'Look 1: detector 2.0 <span class="verdict pass">PASS', text)
    failed_row = look_2[look_2.index("No subgroup worse by more than the limit"):].split("</tr>")[0]
    assert "FAIL" in failed_row and "-0.0600" in failed_row and "worse by more than 0.05: site site-B -0.0600" in (
        failed_row)
    assert f"/api/v1/evaluations/{evaluation.pk}/looks/2/report.pdf" in text


def test_refusals_are_shown_on_the_form_and_store_nothing(client, locked_study, statistician):
    client.force_login(statistician)
    bad = lock_on_page(client, locked_study, {"auc_noninferiority": {"margin": 0.02}, "subgroups": {}})
    assert bad.status_code == 400 and "unknown acceptance criteria subgroups" in bad.content.decode()
    assert not LockedEvaluation.objects.exists()
    lock_on_page(client, locked_study)
    evaluation = LockedEvaluation.objects.get()
    missing = look_on_page(client, locked_study, evaluation, {k: v for k, v in PASSING.items() if k != "M-A11"}, "3")
    assert missing.status_code == 400 and "no score for 1 case(s) of the test set: M-A11" in missing.content.decode()
    assert not ModelUpdateEvaluation.objects.exists()


@pytest.mark.parametrize("role,status", [(Role.READER, 403), (Role.TRUTHER, 404)])
def test_readers_and_outsiders_do_not_see_it(client, locked_study, make_user, role, status):
    user = make_user("someone", role)
    if role == Role.READER:
        locked_study.readers.create(user=user, code="R01")
    client.force_login(user)
    assert client.get(page(locked_study)).status_code == status


def test_a_monitor_member_sees_it(client, locked_study, monitor):
    client.force_login(monitor)
    assert client.get(page(locked_study)).status_code == 200
