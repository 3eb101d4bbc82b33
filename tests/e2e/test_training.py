"""Training mode of the reading workstation (issue 17) in headless Chromium against the real server: a reader of a
study with a qualification rule sees on the worklist that training is required, reads the training cases in the
workstation (marked TRAINING), sees after each score the truth with its lesion drawn on the image, whether the call
was right and, in the AI arm, the AI's score and findings; qualifies, and finds the study's session open on the
worklist. Every stored training read is what the panel showed, with the reader's interaction record."""

import pytest

from studies.models import Case, DicomInstance, Reader, Study, TrainingRead
from tests.studies.training_world import training_study

from .browser import login, shown_score, wait_for_case, wait_until
from .scenario import replace_case_images, stack_datasets

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RULE = {"min_cases": 2, "arms": ["unaided", "aided"], "min_auc": 0.75}
LESION_AT = (128, 96, 24)  # x, y, radius in image pixels


def _with_images(study: Study, tmp_path) -> list[Case]:
    """The training cases T00 (diseased) and T01 with real images; T00's lesion on its image, as a truth import
    stores it."""
    cases = list(study.cases.filter(is_training=True).order_by("pk"))
    for case in cases:
        replace_case_images(case, stack_datasets(case.label, n_slices=1, shape=(256, 256)), tmp_path / case.label)
    diseased = cases[0]
    sop = DicomInstance.objects.get(series__dicom_study__case=diseased).sop_instance_uid
    x, y, radius = LESION_AT
    Case.objects.filter(pk=diseased.pk).update(lesions=[{"sop_instance_uid": sop, "frame": 1, "x": x, "y": y,
                                                         "radius": radius}])
    return cases


def _score(page, digit: str) -> dict:
    """Rate with a digit key over the image, submit with Enter, wait for the feedback; what the panel showed."""
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press(digit)
    shown = shown_score(page)
    assert page.locator("#rw-feedback").is_hidden() and page.locator(".rw-overlay .rw-truth").count() == 0
    page.keyboard.press("Enter")
    wait_until(page, "window.__rw.feedbackShown === true")
    return shown


def _feedback(page) -> dict:
    ai = page.locator("#rw-feedback-ai")
    return {"truth": page.locator("#rw-truth").inner_text(), "call": page.locator("#rw-call").inner_text(),
            "ai": [line.inner_text() for line in ai.locator("p").all()] if ai.count() else None}


def _next(page, n_opened: int) -> None:
    page.keyboard.press("Enter")  # the feedback's Next
    wait_for_case(page, n_opened)


def test_a_reader_trains_sees_the_feedback_qualifies_and_the_session_opens(page, server, coordinator, tmp_path,
                                                                          artifacts):
    study = training_study(coordinator, rule=RULE, status=Study.Status.READING, truth=(1, 0))
    cases = _with_images(study, tmp_path)
    reader = Reader.objects.get(study=study, user__username="reader1")

    login(page, server.url, "reader1", password="pw")
    training = page.locator(f"article[data-training-study='{study.pk}']")
    assert "Training required: your reading sessions open once you qualify" in training.inner_text()
    first_session = page.locator("article[data-session]").first  # the second waits for the washout
    assert "Qualify on the study's training cases first" in first_session.inner_text()
    assert page.locator("article[data-session] a.button").count() == 0
    page.screenshot(path=str(artifacts / "training_worklist_before.png"))

    training.locator("a.button", has_text="Start training").click()
    wait_for_case(page, 1)
    assert page.locator("#rw-mode").inner_text() == "TRAINING" and page.locator("#rw-mode").is_visible()
    assert page.title().startswith("Training · ")
    assert page.locator("#rw-case").inner_text() == "Training case 1 of 4"
    assert page.locator("#rw-arm").inner_text() == "unaided" and page.locator("#rw-ai").is_hidden()
    qualification = page.locator("#rw-qualification")
    assert "Training required: your reading sessions open once you qualify" in qualification.inner_text()
    assert [item.inner_text() for item in qualification.locator("li").all()] == [
        "○ Training cases read in every training arm: 0 (needs ≥ 2) not yet",
        "○ AUC of the ratings against truth: – (needs ≥ 0.75) not yet",
    ]
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("Enter")  # nothing scored yet: refused, saying what is missing
    assert "Still needed: a rating" in page.locator("#rw-score-message").inner_text()
    page.wait_for_timeout(300)  # a look at the image, for the interaction record
    shown, seen = {}, {}

    # T00, diseased, without the AI: rated 80 (at least the threshold of 50): positive and correct.
    shown[cases[0].pk, "unaided"] = _score(page, "8")
    seen[cases[0].pk, "unaided"] = _feedback(page)
    assert seen[cases[0].pk, "unaided"] == {
        "truth": "Truth Diseased · 1 lesion, drawn on the image as a truth mark",
        "call": "✓ Your call: positive — correct", "ai": None}
    assert page.locator("#rw-your-score").inner_text() == "Your score: rating 80"
    truth_mark = page.locator(".rw-overlay .rw-truth circle")
    assert truth_mark.count() == 1 and page.locator(".rw-overlay .rw-truth text").text_content() == "Truth lesion"
    # The truth mark sits where the lesion is on the image, its radius mapped like its centre.
    x, y, radius = LESION_AT
    centre, edge = page.evaluate(f"[window.__rw.imageToCanvas(0, {x}, {y}), window.__rw.imageToCanvas(0, {x + radius}, {y})]")
    assert float(truth_mark.get_attribute("cx")) == pytest.approx(centre[0], abs=0.5)
    assert float(truth_mark.get_attribute("cy")) == pytest.approx(centre[1], abs=0.5)
    assert float(truth_mark.get_attribute("r")) == pytest.approx(edge[0] - centre[0], abs=0.5)
    assert page.locator("#rw-scoring").is_hidden() and page.locator("#rw-next").is_visible()
    assert "null" not in page.locator(".rw-side").inner_text()  # parts that do not apply are absent
    assert page.locator("#rw-training-progress").inner_text() == "1 of 4 training reads"
    # A case counts once read in both arms.
    assert "○ Training cases read in every training arm: 0 (needs ≥ 2) not yet" in qualification.inner_text()
    page.screenshot(path=str(artifacts / "training_feedback_unaided.png"))

    # T00 with the AI: its score and finding while reading; the feedback says whether it was right.
    _next(page, 2)
    assert page.locator("#rw-arm").inner_text() == "aided" and page.locator("#rw-ai").is_visible()
    cue = page.locator("#rw-arm-cue")  # the first case in the AI arm says so; later ones do not (arms alternate)
    assert cue.is_visible() and cue.inner_text() == "Arm changed: aided. This case is read with the AI result."
    assert "AI case score\n0.90" in page.locator("#rw-ai").inner_text()
    assert page.locator("#rw-feedback").is_hidden() and page.locator(".rw-overlay .rw-truth").count() == 0
    shown[cases[0].pk, "aided"] = _score(page, "9")
    seen[cases[0].pk, "aided"] = _feedback(page)
    assert seen[cases[0].pk, "aided"]["ai"] == [
        "AI call: positive — correct (score 0.90 at or above its operating point 0.50) · 1 AI finding on the image"]
    assert page.locator(".rw-overlay .rw-ai-label").text_content() == "AI finding 0.90"
    assert page.locator(".rw-overlay .rw-truth").count() == 1
    assert "○ Training cases read in every training arm: 1 (needs ≥ 2) not yet" in qualification.inner_text()
    page.screenshot(path=str(artifacts / "training_feedback_ai.png"))

    # T01, not diseased: rated 20 then 10, negative and correct in both arms.
    _next(page, 3)
    assert cue.is_hidden(), "the banner of the case before stays over a case in another arm"
    shown[cases[1].pk, "unaided"] = _score(page, "2")
    seen[cases[1].pk, "unaided"] = _feedback(page)
    assert seen[cases[1].pk, "unaided"] == {"truth": "Truth Not diseased", "call": "✓ Your call: negative — correct",
                                            "ai": None}
    assert page.locator(".rw-overlay .rw-truth").count() == 0
    _next(page, 4)
    assert cue.is_hidden()
    shown[cases[1].pk, "aided"] = _score(page, "1")
    seen[cases[1].pk, "aided"] = _feedback(page)
    assert seen[cases[1].pk, "aided"]["ai"] == ["AI call: negative — correct (score 0.10 below its operating point 0.50)"]

    reader.refresh_from_db()
    assert reader.qualified_at is not None
    qualified_on = reader.qualified_at.date().isoformat()
    assert page.locator("#rw-standing").inner_text() == f"Qualified on {qualified_on} — your reading sessions are open"
    assert [item.inner_text() for item in qualification.locator("li").all()] == [
        "✓ Training cases read in every training arm: 2 (needs ≥ 2) passed",
        "✓ AUC of the ratings against truth: 1 (needs ≥ 0.75) passed",
    ]
    assert page.locator("#rw-next").inner_text().startswith("Finish training")
    page.screenshot(path=str(artifacts / "training_qualified.png"))
    page.keyboard.press("Enter")
    wait_until(page, "window.__rw.trainingDone === true")
    assert "Every training case is read. You are qualified: your reading sessions are open." in page.locator("#rw-status").inner_text()

    # Each stored training read is what the panel showed, with what the reader did; its feedback what the truth says.
    stored = {(read.case_id, read.arm.name): read for read in TrainingRead.objects.filter(reader=reader).select_related("arm", "case")}
    assert set(stored) == set(shown)
    for key, read in stored.items():
        assert {"rating": read.rating, "decision": read.decision, "marks": [m["confidence"] for m in read.marks],
                "comment": read.comment} == shown[key], key
        assert read.interactions["v"] == 1 and read.interactions["images"], key
        assert read.duration_ms > 0
        called = read.rating >= study.decision_threshold
        word = "correct" if called == (read.case.truth == 1) else "incorrect"
        assert seen[key]["call"] == f"✓ Your call: {'positive' if called else 'negative'} — {word}"
        assert seen[key]["truth"].startswith("Truth Diseased" if read.case.truth == 1 else "Truth Not diseased")

    page.get_by_role("link", name="Go to your worklist").click()
    page.wait_for_url("**/read/")
    assert f"Qualified on {qualified_on}" in training.inner_text()
    assert first_session.locator("a.button").inner_text() == "Start reading"
    page.screenshot(path=str(artifacts / "training_worklist_after.png"))


def test_a_training_score_kept_through_a_lost_connection_and_a_reload_gets_its_feedback(page, server, coordinator,
                                                                                        page_problems, tmp_path):
    """The score goes through the outbox: kept in the browser while the server cannot be reached, still there after
    a reload (the case waits for it, its score locked), sent once the server answers, and then its feedback."""
    study = training_study(coordinator, rule=RULE, status=Study.Status.READING, truth=(1, 0))
    _with_images(study, tmp_path)
    page_problems.expect(r"net::ERR_INTERNET_DISCONNECTED")
    login(page, server.url, "reader1", password="pw", next_url=f"/read/studies/{study.pk}/training/")
    wait_for_case(page, 1)
    page.route("**/training/reads/", lambda route: route.abort("internetdisconnected"))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("7")
    page.keyboard.press("Enter")
    wait_until(page, "document.querySelector('#rw-save').dataset.state === 'offline'")
    assert "kept in this browser" in page.locator("#rw-save").inner_text()
    assert page.locator("#rw-feedback").is_hidden() and not TrainingRead.objects.exists()
    kept = page.evaluate("JSON.parse(localStorage.getItem('mrmc.outbox.v1.reader1.training'))")
    assert [(item["body"]["arm"], item["body"]["rating"], item["state"]) for item in kept] == [("unaided", 70, "pending")]

    page.reload()
    wait_for_case(page, 1)
    assert page.locator("#rw-case").inner_text() == "Training case 1 of 4"  # the case whose score waits
    assert page.locator("#rw-submit").get_attribute("aria-disabled") == "true"
    assert "the feedback shows once the server has it" in page.locator("#rw-status").inner_text()
    assert not TrainingRead.objects.exists()

    page.unroute("**/training/reads/")
    wait_until(page, "window.__rw.feedbackShown === true")
    read = TrainingRead.objects.get()
    assert (read.rating, read.arm.name) == (70, "unaided")
    assert read.interactions["v"] == 1 and read.interactions["images"]  # recorded before the reload
    assert page.locator("#rw-call").inner_text() == "✓ Your call: positive — correct"
    assert page.locator("#rw-your-score").inner_text() == "Your score: rating 70"
    assert page.evaluate("localStorage.getItem('mrmc.outbox.v1.reader1.training')") == "[]"  # sent, so removed
