"""One study from nothing to its first read, in Chromium under the enforced Content-Security-Policy, through the
console and the workstation only. The coordinator (second factor) creates the study from the form, its arms and
qualification rule, a truth file with an error (named, nothing stored) and then a good one, the AI outputs, and a
zip of images with one broken file (its reason shown, the others stored and linked to their cases); the readiness
page turns green item by item; the study starts enrolling; three readers invited by e-mail follow their link, set a
password and land on their worklist; the schedule is generated; starting to read is refused while the readers have
not qualified; each reads the training case in the workstation and qualifies; reading starts; a reader reads a case;
the coordinator's monitor counts it. Screenshots of every step in tests/artifacts; nothing fails in a browser."""

import email
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from studies.models import AIOutput, Case, Read, Study

from .browser import wait_for_case, wait_saved, wait_until
from .enforced import enforced_server, record_violations, violations
from .upload_files import truncated_image, write_case_zip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CASES = ["C01", "C02", "C03", "C04", "C05", "C06", "T01"]
ACCESSIONS = {label: f"ACC-{label}" for label in CASES}
BAD_TRUTH = "case,truth,truth_method,site\nC01,1,pathology,north\nC02,2,pathology,south\nC03,0,follow-up,north\n"
TRUTH = "case,truth,truth_method,training,site,accession_number\n" + "".join(
    f"{label},{int(label == 'T01' or i % 2 == 1)},pathology,{'yes' if label == 'T01' else 'no'},"
    f"{'north' if i < 4 else 'south'},{ACCESSIONS[label]}\n" for i, label in enumerate(CASES, start=1))
AI_OUTPUTS = '{"model": {"name": "nodule-net", "version": "1.2", "operating_point": 0.5}, "outputs": [' + ", ".join(
    f'{{"case": "{label}", "score": 0.{i}}}' for i, label in enumerate(CASES, start=1)) + "]}"
READERS = [("Ada Adams", "ada@example.org"), ("Bo Baker", "bo@example.org"), ("Cy Chen", "cy@example.org")]
PASSWORD = "a reader's long passphrase"
IMPORTED = "window.__uploads && window.__uploads.files().length >= 1 && window.__uploads.files().every(" \
           "(f) => ['imported', 'failed'].includes(f.state))"


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path, mail_dir):
    """The real server with the policy enforced, writing its e-mails into ``mail_dir``."""
    with enforced_server(dicom_store, tmp_path, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                         EMAIL_FILE_PATH=str(mail_dir), UPLOAD_MIN_FREE_BYTES="0") as process:
        yield process


def _log_in_with_second_factor(page, base_url: str, user) -> None:
    device = TOTPDevice.objects.create(user=user, name="authenticator app", confirmed=True)
    page.goto(f"{base_url}/accounts/login/?next=/console/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/accounts/2fa/verify/**")
    page.fill("#id_code", f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}")
    page.click("input[type=submit]")
    page.wait_for_url("**/console/")


class Shots:
    """Numbered full-page screenshots of the journey."""

    def __init__(self, artifacts: Path):
        self.artifacts, self.n = artifacts, 0

    def __call__(self, page, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(self.artifacts / f"console_journey_{self.n:02d}_{name}.png"), full_page=True)


def _upload(page, form: str, tmp_path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    page.set_input_files(f"{form} input[type=file]", str(path))
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#preview")


def _tab(page, name: str) -> None:
    page.click(f"nav.console-tabs >> text={name}")


def _failing(page, base_url: str, study, gate: str) -> list[str]:
    """The readiness page's failing items of ``gate``, by key."""
    page.goto(f"{base_url}/console/studies/{study.pk}/readiness/")
    return page.locator(f"#gate-{gate} li.failing").evaluate_all("(items) => items.map((i) => i.dataset.item)")


def _invitation_links(mail_dir: Path) -> dict[str, str]:
    """Each addressee's set-password link, from the messages the server wrote."""
    links = {}
    for path in sorted(mail_dir.iterdir()):
        for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):  # the file backend's separator
            if raw.strip():
                message = email.message_from_bytes(raw.strip())
                body = message.get_payload(decode=True).decode()
                links[message["To"]] = next(line.strip() for line in body.splitlines() if "/accounts/invite/" in line)
    return links


def _score(page, category: str, decision: str) -> None:
    """Over the image: an ordinal category and a yes/no decision by their keys, submitted with Enter."""
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press(category)
    page.keyboard.press(decision)
    page.keyboard.press("Enter")


def test_a_study_goes_from_nothing_to_its_first_read_in_the_browser(
        page, page_problems, server, coordinator, browser, artifacts, tmp_path, mail_dir):
    shot = Shots(artifacts)
    record_violations(page)
    _log_in_with_second_factor(page, server.url, coordinator)
    shot(page, "studies_empty")

    # A study from the form: the ordinal labels and the marks' fields appear when chosen.
    page.click("text=New study")
    page.fill("#id_title", "Chest nodules with and without AI")
    page.fill("#id_protocol_version", "1.0")
    page.fill("#id_washout_days", "14")
    assert not page.is_visible("#id_ordinal_labels")
    page.select_option("#id_rating_scale", "ordinal")
    assert page.is_visible("#id_ordinal_labels") and not page.is_visible("#id_scale_min")
    page.fill("#id_ordinal_labels", "definitely normal\nprobably normal\nequivocal\nprobably abnormal\ndefinitely abnormal")
    page.check("#id_binary_decision")
    page.fill("#id_decision_threshold", "4")
    page.check("#id_marks_enabled")
    page.fill("#id_max_marks", "3")
    shot(page, "new_study")
    page.click("#new-study button[type=submit]")
    page.wait_for_url("**/setup/")
    study = Study.objects.get(title="Chest nodules with and without AI")
    assert (study.rating_scale, len(study.ordinal_labels), study.washout_days, study.decision_threshold,
            study.marks_enabled, study.max_marks) == ("ordinal", 5, 14, 4.0, True, 3)

    # Arms: added, then the AI arm moved first and back; the readers qualify on the training case without the AI.
    for name, label, shows_ai in [("unaided", "Unaided", False), ("aided", "AI-aided", True)]:
        page.fill("#add-arm #id_name", name)
        page.fill("#add-arm #id_label", label)
        if shows_ai:
            page.check("#add-arm #id_shows_ai")
        page.click("#add-arm button[type=submit]")
        page.wait_for_selector(f"text=Arm {name} added.")
    page.click("button[aria-label='Move aided up']")
    page.wait_for_load_state()
    assert list(study.arms.values_list("name", flat=True)) == ["aided", "unaided"]
    page.click("button[aria-label='Move aided down']")
    page.wait_for_load_state()
    assert list(study.arms.values_list("name", "shows_ai")) == [("unaided", False), ("aided", True)]
    page.fill("#qualification #id_min_cases", "1")
    page.check("#qualification input[value=unaided]")
    page.locator("#qualification form button[type=submit]").click()
    page.wait_for_selector("text=Qualification rule saved.")
    study.refresh_from_db()
    assert study.qualification == {"min_cases": 1, "arms": ["unaided"]}
    shot(page, "setup_arms_and_rule")
    assert _failing(page, server.url, study, "enrolling") == ["cases", "ai_outputs"]
    shot(page, "readiness_no_cases")

    # Truth: a file with one error is named by line and column, and nothing is stored.
    page.goto(f"{server.url}/console/studies/{study.pk}/truth/")
    _upload(page, "#truth-upload", tmp_path, "truth-bad.csv", BAD_TRUTH)
    problems_table = page.locator("table.problems").inner_text()
    assert "1 problem: nothing stored" in problems_table
    assert "3\ttruth\t'2' must be 1 (diseased) or 0 (non-diseased)" in problems_table
    assert page.locator("#truth-store").count() == 0 and not Case.objects.filter(study=study).exists()
    shot(page, "truth_error")
    _upload(page, "#truth-upload", tmp_path, "truth.csv", TRUTH)
    assert "7 cases to create, 0 to change, 0 unchanged." in page.locator("#preview").inner_text()
    assert not Case.objects.filter(study=study).exists()
    shot(page, "truth_preview")
    page.click("#truth-store button[type=submit]")
    page.wait_for_selector("text=truth.csv stored: 7 case(s) created")
    assert list(study.cases.filter(is_training=True).values_list("label", flat=True)) == ["T01"]
    shot(page, "truth_stored")
    assert _failing(page, server.url, study, "enrolling") == ["images", "ai_outputs"]

    # AI outputs: previewed, stored, listed as the set shown.
    page.goto(f"{server.url}/console/studies/{study.pk}/ai/")
    _upload(page, "#ai-upload", tmp_path, "nodule-net.json", AI_OUTPUTS)
    assert "7 outputs to store." in page.locator("#preview").inner_text()
    page.click("#ai-store button[type=submit]")
    page.wait_for_selector("text=nodule-net.json stored: 7 output(s).")
    assert AIOutput.objects.filter(study=study, output_set__shown=True).count() == 7
    assert "shown" in page.locator("tr[data-set='nodule-net 1.2']").inner_text()
    shot(page, "ai_stored")
    assert _failing(page, server.url, study, "enrolling") == ["images"]
    shot(page, "readiness_no_images")

    # Images: a zip of one image per case and a broken file; the broken one's reason, the others linked.
    page.goto(f"{server.url}/console/studies/{study.pk}/images/")
    archive = write_case_zip(tmp_path / "scans.zip", ACCESSIONS, bad={"broken.dcm": truncated_image()})
    page.set_input_files("#pick-files", str(archive))
    wait_until(page, IMPORTED, timeout_s=60)
    row = page.locator("#queue tbody tr", has_text="scans.zip").inner_text()
    assert "7 stored · 0 already stored · 1 refused" in row and "scans.zip:broken.dcm (truncated)" in row
    assert sorted(study.cases.filter(dicom_study__isnull=False).values_list("label", flat=True)) == CASES
    shot(page, "images_uploaded")
    assert _failing(page, server.url, study, "enrolling") == []
    assert page.locator("#gate-enrolling .verdict").inner_text() == "Ready"
    shot(page, "readiness_ready_to_enroll")
    page.click("#gate-enrolling button:has-text('Start enrolling')")
    page.wait_for_selector("text=The study is now enrolling.")

    # Three readers invited by e-mail; each follows the link, sets a password and lands on the worklist.
    _tab(page, "Readers")
    for name, address in READERS:
        page.fill("#invite #id_name", name)
        page.fill("#invite #id_email", address)
        page.click("#invite button[type=submit]")
        page.wait_for_selector(f"text=e-mail sent to {address}")
    assert [text.split()[0] for text in page.locator("#readers td.state").all_inner_texts()] == ["invited"] * 3
    shot(page, "readers_invited")
    links = _invitation_links(mail_dir)
    assert sorted(links) == sorted(address for _, address in READERS)
    readers = []
    for name, address in READERS:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page_problems.watch(context, origin=server.url)
        page_problems.expect(rf"404: GET {links[address]}$", rf"console: .*404.*\({links[address]}\)")  # used again
        reader_page = context.new_page()
        reader_page.goto(links[address])
        reader_page.wait_for_url("**/set-password/")
        assert reader_page.locator("h1").inner_text() == f"Welcome, {name}"
        if not readers:
            shot(reader_page, "reader_sets_password")
        reader_page.fill("#id_new_password1", PASSWORD)
        reader_page.fill("#id_new_password2", PASSWORD)
        reader_page.click("input[type=submit]")
        reader_page.wait_for_url("**/read/")
        training = reader_page.locator(f"article[data-training-study='{study.pk}']")
        assert "Training required: your reading sessions open once you qualify" in training.inner_text()
        reader_page.goto(links[address])  # the link worked once
        assert "This link no longer works" in reader_page.locator("h1").inner_text()
        readers.append(reader_page)

    # The schedule; reading is refused while the readers have not qualified, and says so.
    page.goto(f"{server.url}/console/studies/{study.pk}/")
    page.fill("#id_seed", "7")
    page.click("button:has-text('Generate schedule')")
    page.wait_for_selector("text=: succeeded")
    refused = f"{server.url}/console/studies/{study.pk}/transition/"
    page_problems.expect(rf"409: POST {refused}$", rf"console: .*409.*\({refused}\)")
    page.click("button:has-text('Start reading')")
    page.wait_for_selector("#refusal")
    assert [item.split(":")[0] for item in page.locator("#refusal li").all_inner_texts()] == [
        "Readers passed the qualification"]
    shot(page, "reading_refused_unqualified")

    # Each reader reads the training case in the workstation, sees the feedback and qualifies.
    for number, reader_page in enumerate(readers):
        reader_page.goto(f"{server.url}/read/")
        reader_page.locator(f"article[data-training-study='{study.pk}'] a.button").click()
        wait_for_case(reader_page, 1)
        assert reader_page.locator("#rw-mode").inner_text() == "TRAINING"
        _score(reader_page, "5", "y")
        wait_until(reader_page, "window.__rw.feedbackShown === true")
        assert reader_page.locator("#rw-call").inner_text() == "✓ Your call: positive — correct"
        assert reader_page.locator("#rw-standing").inner_text().startswith("Qualified on ")
        if number == 0:
            shot(reader_page, "reader_training_feedback")
        reader_page.keyboard.press("Enter")  # Finish training
        wait_until(reader_page, "window.__rw.trainingDone === true")
    page.goto(f"{server.url}/console/studies/{study.pk}/readers/")
    assert [text.split()[0] for text in page.locator("#readers td.qualification").all_inner_texts()] == ["qualified"] * 3
    shot(page, "readers_qualified")
    assert _failing(page, server.url, study, "reading") == []
    shot(page, "readiness_ready_to_read")
    page.click("#gate-reading button:has-text('Start reading')")
    page.wait_for_selector("text=The study is now reading.")

    # The first reader reads a case of the first session; the coordinator's monitor counts it.
    first = readers[0]
    first.goto(f"{server.url}/read/")
    first.locator("article.session a.button").first.click()
    wait_for_case(first, 1)
    assert first.locator("#rw-mode").is_hidden()
    _score(first, "2", "n")
    wait_saved(first)
    shot(first, "reader_first_read")
    read = Read.objects.get(case__study=study)
    assert (read.reader.code, read.rating, read.decision) == ("R01", 2, False)
    page.goto(f"{server.url}/console/studies/{study.pk}/monitor/")
    r01_first_session = page.locator("#table-progress tbody tr").first.locator("td")
    assert r01_first_session.nth(0).inner_text() == "R01" and r01_first_session.nth(6).inner_text() == "1"
    shot(page, "monitor_first_read")
    page.goto(f"{server.url}/console/")
    shot(page, "studies")
    assert not violations(page)
    for reader_page in readers:
        assert not violations(reader_page)
