"""The AI in the reading workstation: shown only in the aided arm, and in a sequential design only
after the unaided score is stored; each finding labelled apart from the case score; the reader's
AI toggles recorded with the read; the cue when arms interleaved in blocks change (headless
Chromium against the real server)."""

import json

import pytest

from studies.models import Assignment, Read

from .browser import assert_stored_as_shown, login, shown_score, wait_for_case, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _aided_and_unaided(study, username="reader1"):
    """An aided assignment whose case has AI findings, and an unaided one (demo images only)."""
    assignments = [
        a for a in Assignment.objects.filter(reader__user__username=username, session__number=1)
        .select_related("arm", "case").order_by("order")
        if a.case_id not in study.replaced_cases
    ]
    aided = next(a for a in assignments if a.arm.shows_ai and any(o.findings for o in a.case.ai_outputs.all()))
    unaided = next(a for a in assignments if not a.arm.shows_ai)
    return aided, unaided


def test_ai_only_in_the_aided_arm(page, server, demo_study, artifacts):
    aided, unaided = _aided_and_unaided(demo_study)
    session = aided.session_id
    login(page, server.url, "reader1")
    bodies = []

    def keep(response):
        try:
            bodies.append((response.url, response.body().decode("utf-8", "replace")))
        except Exception:  # noqa: BLE001 - redirects and aborted requests have no body
            bodies.append((response.url, ""))

    page.on("response", keep)
    page.goto(f"{server.url}/read/sessions/{session}/?assignment={unaided.pk}")
    wait_for_case(page)
    page.wait_for_function("window.__rw.prefetchDone")
    page.screenshot(path=str(artifacts / "reading_unaided.png"))
    assert page.locator("#rw-ai").is_hidden()
    assert page.locator("#rw-ai").inner_html() == ""
    assert page.locator(".rw-overlay .rw-ai").count() == 0
    html = page.content()
    # Every data response: pages, API, DICOMweb metadata (the bundle's code is the same for all arms).
    text_responses = [(url, body) for url, body in bodies if "/frames/" not in url and "/static/" not in url]
    assert text_responses
    for marker in ("model_name", "demo-nodule-detector", "operating_point", "findings"):
        assert marker not in html
        leaks = [url for url, body in text_responses if marker in body]
        assert not leaks, f"{marker!r} in {leaks}"
    for marker in ('"truth"', "pathology", "reader2", "reader3"):
        leaks = [url for url, body in text_responses if marker in body]
        assert not leaks, f"{marker!r} in {leaks}"
    assignment = json.loads(next(body for url, body in bodies if url.endswith(f"/assignments/{unaided.pk}/")))
    assert assignment["ai"] is None

    page.remove_listener("response", keep)
    page.goto(f"{server.url}/read/sessions/{session}/?assignment={aided.pk}")
    wait_for_case(page)
    panel = page.locator("#rw-ai")
    assert panel.is_visible()
    output = aided.case.ai_outputs.get()
    assert f"AI case score\n{output.score:.2f}" in panel.inner_text()
    assert "operating point" in panel.inner_text().lower()
    boxes = page.locator(".rw-overlay rect.rw-ai")
    assert boxes.count() >= 1 and boxes.first.is_visible()
    # Each box says it is a finding, with the finding's own confidence: not to be taken for the case score.
    shown_findings = [f for f in output.findings if f.get("score") is not None]
    labels = [label.text_content() for label in page.locator(".rw-overlay .rw-ai-label").all()]
    assert labels and all(label.startswith("AI finding ") for label in labels), labels
    assert f"AI finding {shown_findings[0]['score']:.2f}" in labels
    page.screenshot(path=str(artifacts / "reading_aided.png"))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("a")
    assert page.locator(".rw-overlay .rw-ai").count() == 0
    page.keyboard.press("a")
    assert page.locator(".rw-overlay rect.rw-ai").count() >= 1
    page.set_viewport_size({"width": 1366, "height": 768})  # a laptop
    page.wait_for_timeout(300)
    assert page.locator("#rw-submit").is_visible() and page.locator("#rw-ai").is_visible()
    page.screenshot(path=str(artifacts / "reading_aided_laptop.png"))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("5")
    page.keyboard.press("n")
    shown = shown_score(page)
    page.keyboard.press("Enter")
    wait_for_case(page, 2)  # the second case of this page load
    wait_saved(page)
    assert_stored_as_shown(page, server.url, aided.pk, shown)
    record = Read.objects.get(assignment=aided).interactions
    assert record["ai_toggles"] == 2
    assert [kind for _, kind in record["events"]] == ["ai_off", "ai_on"]


def test_sequential_design_shows_ai_only_after_the_unaided_score(page, server, make_study, tmp_path):
    from studies.models import Study

    from .scenario import replace_case_images, stack_datasets

    study = make_study(
        n_readers=1, n_cases=2, design=Study.Design.SEQUENTIAL, rating_scale=Study.Scale.ORDINAL,
        ordinal_labels=["definitely normal", "probably normal", "unsure", "probably abnormal", "definitely abnormal"],
    )
    for case in study.cases.all():
        replace_case_images(case, stack_datasets(case.label, n_slices=2, shape=(512, 512)), tmp_path / case.label)
    events = []

    def keep(response):
        if "/api/" in response.url or "/dicomweb/" in response.url and "/frames/" not in response.url:
            try:
                events.append((response.request.method, response.url, response.body().decode()))
            except Exception:  # noqa: BLE001 - aborted requests have no body
                pass

    page.on("response", keep)
    login(page, server.url, "reader1", password="pw")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    assert page.locator("#rw-arm").inner_text() == "unaided"
    assert page.locator("#rw-ai").is_hidden()
    page.wait_for_function("window.__rw.prefetchDone")
    assert not [url for _, url, body in events if "model_name" in body]
    page.get_by_role("button", name="4 probably abnormal").click()
    unaided_shown = shown_score(page)
    page.keyboard.press("Enter")  # the ordinal button just clicked keeps the focus: Enter submits, not clicks it

    wait_for_case(page, 2)
    assert page.locator("#rw-arm").inner_text() == "aided"
    assert page.locator("#rw-ai").is_visible()
    posts = [i for i, (method, url, _) in enumerate(events) if method == "POST" and url.endswith("/api/v1/reads/")]
    with_ai = [i for i, (_, url, body) in enumerate(events) if "model_name" in body]
    assert posts and with_ai and posts[0] < with_ai[0], "AI arrived before the unaided score was stored"
    # Same case, so the aided read shows the images already in the browser.
    assert page.evaluate("window.__rw.timings[1].openToFirstImageMs") < 2000
    # Ordinal ratings from the keyboard.
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("2")
    assert page.get_by_role("button", name="2 probably normal").get_attribute("aria-pressed") == "true"
    aided_shown = shown_score(page)
    page.keyboard.press("Enter")
    wait_saved(page)
    reads = {r.arm.name: r for r in Read.objects.filter(reader__user__username="reader1").select_related("arm")}
    assert reads["unaided"].rating == 4 and reads["aided"].rating == 2
    assert reads["unaided"].case_id == reads["aided"].case_id
    assert_stored_as_shown(page, server.url, reads["unaided"].assignment_id, unaided_shown)
    assert_stored_as_shown(page, server.url, reads["aided"].assignment_id, aided_shown)


def test_a_change_of_arm_between_blocks_is_cued(page, server, make_study, tmp_path, artifacts):
    """Arms interleaved in blocks of two cases within a session: the case where the arm changes says so."""
    from .scenario import replace_case_images, stack_datasets

    study = make_study(n_readers=1, n_cases=4, block_size=2)
    for case in study.cases.all():
        replace_case_images(case, stack_datasets(case.label, n_slices=1, shape=(256, 256)), tmp_path / case.label)
    arms = list(Assignment.objects.filter(reader__user__username="reader1", session__number=1)
                .order_by("order").values_list("arm__label", flat=True))
    assert arms[0] == arms[1] != arms[2] == arms[3]  # one block, then the other arm's
    login(page, server.url, "reader1", password="pw")
    page.locator("article.session a.button").first.click()
    cue = page.locator("#rw-arm-cue")
    for opened in range(1, 4):
        wait_for_case(page, opened)
        if opened == 3:
            break
        assert cue.is_hidden(), f"cue at case {opened}, in the same arm as the one before"
        page.locator(".rw-viewport").first.hover()
        page.keyboard.press("5")
        page.keyboard.press("Enter")
    assert cue.is_visible()
    assert cue.inner_text().startswith(f"Arm changed: {arms[2]}.")
    assert "changed" in page.locator("#rw-arm").get_attribute("class")
    page.screenshot(path=str(artifacts / "reading_arm_changed.png"))
    page.wait_for_timeout(6500)
    assert cue.is_hidden()

