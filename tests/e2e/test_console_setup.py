"""A coordinator sets a study up in Chromium, under the enforced Content-Security-Policy, from the
console's pages only: a study from the form, its arms, a truth file with an error (named, nothing
stored) and then a good one, AI outputs, and three readers invited by e-mail, who each follow their
link, set a password and land on their worklist. Screenshots of every page in tests/artifacts."""

import email
from pathlib import Path

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from studies.models import AIOutput, Case, Study

from .browser import wait_until
from .enforced import enforced_server, record_violations, violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BAD_TRUTH = "case,truth,truth_method,site\nC01,1,pathology,north\nC02,2,pathology,south\nC03,0,follow-up,north\n"
TRUTH = ("case,truth,truth_method,training,site\n" + "".join(
    f"C{i:02d},{i % 2},pathology,no,{'north' if i < 4 else 'south'}\n" for i in range(1, 7)) + "T01,1,consensus,yes,north\n")
AI_OUTPUTS = '{"model": {"name": "nodule-net", "version": "1.2", "operating_point": 0.5}, "outputs": [' + ", ".join(
    f'{{"case": "{label}", "score": 0.{i}}}' for i, label in enumerate(["C01", "C02", "C03", "C04", "C05", "C06", "T01"],
                                                                     start=1)) + "]}"
READERS = [("Ada Adams", "ada@example.org"), ("Bo Baker", "bo@example.org"), ("Cy Chen", "cy@example.org")]
PASSWORD = "a reader's long passphrase"


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path, mail_dir):
    """The real server with the policy enforced, writing its e-mails into ``mail_dir``."""
    with enforced_server(dicom_store, tmp_path, EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                         EMAIL_FILE_PATH=str(mail_dir)) as process:
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


def _shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"console_setup_{name}.png"), full_page=True)


def _upload(page, form: str, tmp_path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    page.set_input_files(f"{form} input[type=file]", str(path))
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#preview")


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


def test_a_coordinator_sets_up_a_study_and_the_invited_readers_reach_their_worklist(
        page, server, coordinator, browser, artifacts, tmp_path, mail_dir):
    record_violations(page)
    _log_in_with_second_factor(page, server.url, coordinator)
    _shot(page, artifacts, "01_studies_empty")

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
    _shot(page, artifacts, "02_new_study")
    page.click("#new-study button[type=submit]")
    page.wait_for_url("**/setup/")
    study = Study.objects.get(title="Chest nodules with and without AI")
    assert (study.rating_scale, len(study.ordinal_labels), study.washout_days, study.decision_threshold,
            study.marks_enabled, study.max_marks) == ("ordinal", 5, 14, 4.0, True, 3)

    # Arms: added, then the AI arm moved first and back.
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
    _shot(page, artifacts, "03_setup_and_arms")

    # Truth: a file with one error is named by line and column, and nothing is stored.
    page.click("nav.console-tabs >> text=Truth")
    _upload(page, "#truth-upload", tmp_path, "truth-bad.csv", BAD_TRUTH)
    problems_table = page.locator("table.problems").inner_text()
    assert "1 problem: nothing stored" in problems_table
    assert "3\ttruth\t'2' must be 1 (diseased) or 0 (non-diseased)" in problems_table
    assert page.locator("#truth-store").count() == 0 and not Case.objects.filter(study=study).exists()
    _shot(page, artifacts, "04_truth_error")
    _upload(page, "#truth-upload", tmp_path, "truth.csv", TRUTH)
    assert "7 cases to create, 0 to change, 0 unchanged." in page.locator("#preview").inner_text()
    assert not Case.objects.filter(study=study).exists()
    _shot(page, artifacts, "05_truth_preview")
    page.click("#truth-store button[type=submit]")
    page.wait_for_selector("text=truth.csv stored: 7 case(s) created")
    assert sorted(study.cases.filter(is_training=True).values_list("label", flat=True)) == ["T01"]
    assert study.cases.count() == 7
    _shot(page, artifacts, "06_truth_stored")

    # AI outputs: previewed, stored, listed as the set shown.
    page.click("nav.console-tabs >> text=AI outputs")
    _upload(page, "#ai-upload", tmp_path, "nodule-net.json", AI_OUTPUTS)
    assert "7 outputs to store." in page.locator("#preview").inner_text()
    _shot(page, artifacts, "07_ai_preview")
    page.click("#ai-store button[type=submit]")
    page.wait_for_selector("text=nodule-net.json stored: 7 output(s).")
    assert AIOutput.objects.filter(study=study, output_set__shown=True).count() == 7
    assert "shown" in page.locator("tr[data-set='nodule-net 1.2']").inner_text()
    _shot(page, artifacts, "08_ai_stored")

    # Three readers invited by e-mail.
    page.click("nav.console-tabs >> text=Readers")
    for name, address in READERS:
        page.fill("#invite #id_name", name)
        page.fill("#invite #id_email", address)
        page.click("#invite button[type=submit]")
        page.wait_for_selector(f"text=e-mail sent to {address}")
    assert [text.split()[0] for text in page.locator("#readers td.state").all_inner_texts()] == ["invited"] * 3
    _shot(page, artifacts, "09_readers_invited")

    links = _invitation_links(mail_dir)
    reader_problems = []
    assert sorted(links) == sorted(address for _, address in READERS)
    for number, (name, address) in enumerate(READERS):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        reader_page = context.new_page()
        reader_page.on("console", lambda m: m.type == "error" and reader_problems.append(f"console: {m.text}"))
        reader_page.on("response", lambda r: r.status >= 400 and reader_problems.append(f"{r.status}: {r.url}"))
        reader_page.goto(links[address])
        reader_page.wait_for_url("**/set-password/")
        assert reader_page.locator("h1").inner_text() == f"Welcome, {name}"
        assert address in reader_page.locator("main").inner_text()
        if number == 0:
            _shot(reader_page, artifacts, "10_reader_sets_password")
        reader_page.fill("#id_new_password1", PASSWORD)
        reader_page.fill("#id_new_password2", PASSWORD)
        reader_page.click("input[type=submit]")
        reader_page.wait_for_url("**/read/")
        assert "Your worklist" in reader_page.locator("h1").inner_text()
        if number == 0:
            _shot(reader_page, artifacts, "11_reader_worklist")
        reader_page.goto(links[address])  # the link worked once
        assert "This link no longer works" in reader_page.locator("h1").inner_text()
        context.close()
    # Only the used links were refused (the page says so, and Chromium logs the 404 it answered with).
    expected = [f"404: {links[address]}" for _, address in READERS]
    assert [p for p in reader_problems if p.startswith("404: ")] == expected
    assert all("404" in p for p in reader_problems if p.startswith("console: ")), reader_problems

    page.reload()
    assert page.locator("#readers td.state").all_inner_texts() == ["active"] * 3
    _shot(page, artifacts, "12_readers_active")
    page.click("nav.console-tabs >> text=Overview")
    wait_until(page, "document.querySelectorAll('.steps li.done').length >= 4")
    _shot(page, artifacts, "13_overview")
    page.goto(f"{server.url}/console/")
    _shot(page, artifacts, "14_studies")
    assert not violations(page)
