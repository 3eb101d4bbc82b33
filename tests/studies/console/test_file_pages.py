"""The truth and AI-output pages: a preview names what would be stored and every problem, stores
nothing, and "Store" stores exactly the file previewed, or nothing."""

import hashlib
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from studies.console import staged
from studies.models import AIOutput, AIOutputSet, Case

pytestmark = pytest.mark.django_db
TRUTH = b"case,truth,truth_method,training,site\nA,1,pathology,no,north\nB,0,consensus,no,south\nT,1,consensus,yes,north\n"
BAD_TRUTH = b"case,truth,training,site\nA,1,no,north\nB,2,no,south\nT,1,perhaps,north\n"


@pytest.fixture
def draft(make_study, dicom_store):
    return make_study(status="draft", n_readers=1, n_cases=0)


@pytest.fixture
def dicom_store(settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"  # where previewed files are kept


@pytest.fixture
def browser(coordinator) -> Client:
    client = Client()
    client.force_login(coordinator)
    return client


def _preview(browser, study, path: str, data: bytes, name: str):
    return browser.post(f"/console/studies/{study.pk}/{path}/", {"file": SimpleUploadedFile(name, data)})


def _text(response) -> str:
    return response.content.decode()


def _problem_rows(page: str) -> list[tuple[str, str, str]]:
    table = page.split('<table class="problems"')[1].split("</table>")[0]
    return re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", table)


def test_a_truth_file_with_errors_is_named_line_by_line_and_nothing_is_stored(browser, draft):
    response = _preview(browser, draft, "truth", BAD_TRUTH, "truth.csv")
    assert response.status_code == 200
    page = _text(response)
    assert _problem_rows(page) == [
        ("3", "truth", "&#x27;2&#x27; must be 1 (diseased) or 0 (non-diseased)"),
        ("4", "training", "&#x27;perhaps&#x27; must be yes or no (1 or 0)")]
    assert "2 problems: nothing stored" in page and 'id="truth-store"' not in page
    assert not Case.objects.filter(study=draft).exists()


def test_a_good_truth_file_is_previewed_then_stored_as_previewed(browser, draft):
    page = _text(_preview(browser, draft, "truth", TRUTH, "truth.csv"))
    assert "3 cases to create, 0 to change, 0 unchanged." in page
    preview = page.split('<table class="preview">')[1].split("</table>")[0]
    assert re.findall(r"<th>(\w+)", preview) == ["Line", "case", "truth", "truth_method", "training", "site"]
    assert "<td>T</td><td>1</td><td>consensus</td><td>yes</td><td>north</td>" in preview
    assert not Case.objects.filter(study=draft).exists()
    digest = hashlib.sha256(TRUTH).hexdigest()
    assert f'name="sha256" value="{digest}"' in page
    response = browser.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": digest})
    assert response.status_code == 302
    assert sorted(draft.cases.values_list("label", "truth", "is_training")) == [
        ("A", 1, False), ("B", 0, False), ("T", 1, True)]
    listing = _text(browser.get(response["Location"]))
    assert "truth.csv stored: 3 case(s) created, 0 updated" in listing and "Cases (3, 1 training)" in listing


def test_a_changed_truth_preview_shows_old_and_new_values(browser, draft, coordinator):
    from studies.services.imports import import_truth

    import_truth(actor=coordinator, study=draft, data=TRUTH)
    page = _text(_preview(browser, draft, "truth", b"case,truth,site\nA,0,north\nB,0,west\n", "fix.csv"))
    assert "0 cases to create, 2 to change, 0 unchanged." in page
    assert '<td><span class="change">1 → </span>0</td>' in page
    assert '<td><span class="change">south → </span>west</td>' in page


def test_store_refuses_a_file_other_than_the_one_previewed(browser, draft, settings):
    _preview(browser, draft, "truth", TRUTH, "truth.csv")
    other = hashlib.sha256(TRUTH + b"C,0,other,no,x\n").hexdigest()
    refused = browser.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": other})
    assert refused.status_code == 400 and "not the file last previewed here" in _text(refused)
    digest = hashlib.sha256(TRUTH).hexdigest()
    kept = staged._root() / digest
    kept.write_bytes(TRUTH.replace(b"A,1", b"A,0"))  # changed where it waits
    refused = browser.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": digest})
    assert refused.status_code == 400 and "not the one previewed" in _text(refused)
    assert not Case.objects.filter(study=draft).exists()


def test_another_session_cannot_store_my_preview(browser, draft, coordinator):
    _preview(browser, draft, "truth", TRUTH, "truth.csv")
    second = Client()
    second.force_login(coordinator)
    refused = second.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": hashlib.sha256(TRUTH).hexdigest()})
    assert refused.status_code == 400 and not Case.objects.filter(study=draft).exists()


def test_store_without_a_preview_is_refused(browser, draft):
    refused = browser.post(f"/console/studies/{draft.pk}/truth/store/", {})
    assert refused.status_code == 400 and "preview the file first" in _text(refused)


AI = {"model": {"name": "net", "version": "3", "operating_point": 0.5},
      "outputs": [{"case": "A", "score": 0.9}, {"case": "B", "score": 0.2}, {"case": "T", "score": 0.7}]}


@pytest.fixture
def with_cases(draft, coordinator):
    from studies.services.imports import import_truth

    import_truth(actor=coordinator, study=draft, data=TRUTH)
    return draft


def test_ai_outputs_previewed_stored_and_listed(browser, with_cases):
    data = json.dumps(AI).encode()
    page = _text(_preview(browser, with_cases, "ai", data, "net3.json"))
    assert "Preview (JSON)" in page and "3 outputs to store." in page
    assert "<td>net</td><td>3</td><td>3</td>\n        <td>a new set</td>" in page
    assert not AIOutputSet.objects.filter(study=with_cases).exists()
    response = browser.post(f"/console/studies/{with_cases.pk}/ai/store/", {"sha256": hashlib.sha256(data).hexdigest()})
    assert response.status_code == 302
    assert sorted(AIOutput.objects.filter(study=with_cases).values_list("case__label", "score")) == [
        ("A", 0.9), ("B", 0.2), ("T", 0.7)]
    listing = _text(browser.get(response["Location"]))
    row = listing.split('data-set="net 3"')[1].split("</tr>")[0]
    assert "net3.json" in row and "3 of 3" in row and "<strong>shown</strong>" in row


def test_ai_preview_names_every_problem_and_stores_nothing(browser, with_cases):
    data = json.dumps({"model": {"name": "net", "version": "3"},
                       "outputs": [{"case": "A", "score": "high"}, {"case": "Z", "score": 0.1}]}).encode()
    page = _text(_preview(browser, with_cases, "ai", data, "bad.json"))
    assert _problem_rows(page) == [("–", "outputs[0].score", "&#x27;high&#x27; is not a number"),
                                   ("–", "case", "case &#x27;Z&#x27; is not in this study")]
    assert 'id="ai-store"' not in page and not AIOutputSet.objects.filter(study=with_cases).exists()


def test_the_set_shown_is_chosen_and_a_set_deleted(browser, with_cases, coordinator):
    from studies.services.imports import import_ai_outputs

    for version in ("1", "2"):
        import_ai_outputs(actor=coordinator, study=with_cases, filename=f"v{version}.csv",
                          data=f"case,model_name,model_version,score\nA,net,{version},0.5\n".encode())
    first, second = AIOutputSet.objects.filter(study=with_cases).order_by("pk")
    assert browser.post(f"/console/studies/{with_cases.pk}/ai/sets/{second.pk}/show/").status_code == 302
    assert list(AIOutputSet.objects.filter(study=with_cases, shown=True)) == [second]
    assert browser.post(f"/console/studies/{with_cases.pk}/ai/sets/{second.pk}/delete/").status_code == 302
    assert list(AIOutputSet.objects.filter(study=with_cases).values_list("pk", "shown")) == [(first.pk, True)]


def test_truth_pages_of_a_locked_study_say_why_nothing_can_change(browser, make_study, dicom_store):
    study = make_study(status="reading", n_readers=1, n_cases=2)
    study.status = "locked"
    study.save()
    refused = _preview(browser, study, "truth", TRUTH, "truth.csv")
    assert refused.status_code == 409 and "the study is locked; truth can no longer change" in _text(refused)
