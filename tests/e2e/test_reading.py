"""The reading workstation in headless Chromium against the real server (issue 5, "Done means")."""

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from studies.models import Assignment, DicomInstance, Read
from studies.services import ingest

from .browser import canvas_stats, login, rendered_vs_dicom, view, wait_for_case

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _stored_file(sop_instance_uid: str) -> Path:
    """The stored (de-identified) Part 10 file the server serves for this instance."""
    instance = DicomInstance.objects.get(sop_instance_uid=sop_instance_uid)
    return ingest.content_store().path_for(instance.sha256)


def _assert_shows_image(page, index=0):
    stats = canvas_stats(page, index)
    assert stats["std"] > 10, f"canvas is uniform: {stats}"
    assert stats["bright"] > 0.2, f"canvas is nearly black: {stats}"
    return stats


def _drag(page, box, dx, dy, button="left"):
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down(button=button)
    for step in range(1, 11):
        page.mouse.move(x + dx * step / 10, y + dy * step / 10)
    page.mouse.up(button=button)


def test_reader_reads_three_cases(page, server, demo_study, artifacts):
    login(page, server.url, "reader1")
    assert page.locator("article.session").count() == 2
    assert "Opens on" in page.locator("article.session").nth(1).inner_text()  # washout
    page.screenshot(path=str(artifacts / "worklist.png"))
    page.locator("article.session a.button").first.click()
    page.wait_for_function("window.__rw && window.__rw.ready")
    assert page.locator("#rw-previous").is_hidden()  # submitted reads are final in this study
    reader_assignments = list(
        Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order")
    )

    # Case 1: a five-image stack. Scroll, window/level, then score with the mouse.
    wait_for_case(page, 1)
    viewport = page.locator(".rw-viewport").first
    box = viewport.bounding_box()
    _assert_shows_image(page)
    assert view(page)["images"] == 5
    slice_0 = viewport.screenshot()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 120)
    page.wait_for_function("window.__rw.view(0).imageIndex === 1")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("window.__rw.view(0).imageIndex === 2")
    page.keyboard.press("ArrowUp")
    page.wait_for_function("window.__rw.view(0).imageIndex === 1")
    page.wait_for_timeout(100)
    assert viewport.screenshot() != slice_0, "scrolling did not change the image"
    voi_before = view(page)["voi"]
    _drag(page, box, 120, 80)
    voi_after = view(page)["voi"]
    assert voi_after != voi_before, "dragging did not change window/level"
    page.keyboard.press("Shift+Digit2")  # high-contrast preset: half the default width
    preset = view(page)["voi"]
    assert preset != voi_after
    page.keyboard.press("i")
    assert view(page)["invert"] is True
    page.keyboard.press("i")
    page.keyboard.press("r")
    assert view(page)["invert"] is False

    slider = page.locator("#rw-rating").bounding_box()
    page.mouse.click(slider["x"] + slider["width"] * 0.7, slider["y"] + slider["height"] / 2)
    rating_1 = float(page.locator("#rw-rating-value").inner_text())
    assert 60 <= rating_1 <= 80
    page.get_by_role("button", name="Positive").click()
    page.get_by_role("button", name="Mark").click()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    assert page.locator(".rw-overlay .rw-mark").count() == 1
    page.fill("#rw-mark-0", "66")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Submit & next").click()

    # Case 2: a four-view mammogram hung 2x2; scored from the keyboard.
    wait_for_case(page, 2)
    labels = page.locator(".rw-vp-label").all_inner_texts()
    assert labels == ["R CC", "L CC", "R MLO", "L MLO"], labels
    for index in range(4):
        _assert_shows_image(page, index)
    page.screenshot(path=str(artifacts / "reading_mammo_2x2.png"))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("4")
    page.keyboard.press("]")
    page.keyboard.press("n")
    assert page.locator("#rw-rating-value").inner_text() == "41"
    page.keyboard.press("Enter")

    # Case 3: a chest radiograph; the canvas matches the DICOM pixels windowed as displayed.
    wait_for_case(page, 3)
    _assert_shows_image(page)
    shown = view(page)
    errors = rendered_vs_dicom(page, _stored_file(shown["instanceUid"]))
    assert np.median(errors) < 8 and np.percentile(errors, 90) < 20, (np.median(errors), errors.max())
    box = page.locator(".rw-viewport").first.bounding_box()
    _drag(page, box, -150, 100)
    errors = rendered_vs_dicom(page, _stored_file(shown["instanceUid"]), seed=1)
    assert np.median(errors) < 8 and np.percentile(errors, 90) < 20, (np.median(errors), errors.max())
    # Length measurement in millimetres (the image's pixel spacing).
    page.keyboard.press("l")
    _drag(page, box, 200, 0)
    length = page.locator(".rw-viewport svg text").filter(has_text="mm")
    assert length.count() >= 1, page.locator(".rw-viewport svg").first.inner_html()[-600:]
    stored = pydicom.dcmread(_stored_file(shown["instanceUid"]), stop_before_pixels=True)
    (x0, _), (x1, _) = page.evaluate(
        "([c]) => [window.__rw.imageToCanvas(0, 0, 0), window.__rw.imageToCanvas(0, c, 0)]", [stored.Columns]
    )
    page.wait_for_timeout(300)  # the tool redraws on the next animation frame
    drawn, text = page.evaluate("""() => {
      const svg = document.querySelector('.rw-viewport svg');
      const line = svg.querySelector("line[data-id$='-line']");
      const text = [...svg.querySelectorAll('text')].map((t) => t.textContent).find((t) => t.includes('mm'));
      return [Math.hypot(line.x2.baseVal.value - line.x1.baseVal.value, line.y2.baseVal.value - line.y1.baseVal.value), text];
    }""")  # canvas pixels, label
    # Imager Pixel Spacing is at the detector; lengths are at the patient (divided by the ERMF).
    magnification = float(stored.get("EstimatedRadiographicMagnificationFactor", 1) or 1)
    expected_mm = drawn * stored.Columns / (x1 - x0) * float(stored.ImagerPixelSpacing[1]) / magnification
    measured_mm = float(text.split()[0])
    assert measured_mm == pytest.approx(expected_mm, rel=0.02)
    page.keyboard.press("w")
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("8")
    page.keyboard.press("y")
    page.keyboard.press("c")
    page.keyboard.type("small opacity right lower zone")
    page.keyboard.press("Control+Enter")
    page.wait_for_function("window.__rw.timings.length >= 4 && window.__rw.caseReady")
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'saved'")
    page.screenshot(path=str(artifacts / "reading_after_three.png"))

    reads = {r.assignment_id: r for r in Read.objects.filter(reader__user__username="reader1")}
    assert len(reads) == 3
    one, two, three = (reads[a.pk] for a in reader_assignments[:3])
    assert one.rating == rating_1 and one.decision is True
    assert len(one.marks) == 1 and one.marks[0]["confidence"] == 66 and one.marks[0]["instance_uid"]
    assert two.rating == 41 and two.decision is False and two.marks == []
    assert three.rating == 80 and three.decision is True and three.comment == "small opacity right lower zone"
    for read in (one, two, three):
        assert read.opened_at <= read.first_image_at <= read.client_submitted_at
        assert read.duration_ms and read.duration_ms > 0


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
    assert f"{output.score:.2f}" in panel.inner_text()
    assert "operating point" in panel.inner_text().lower()
    boxes = page.locator(".rw-overlay rect.rw-ai")
    assert boxes.count() >= 1 and boxes.first.is_visible()
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


def test_gpu_rendering_path_matches_dicom(page, server, demo_study):
    """The WebGL path (SwiftShader here) renders the same pixels as the CPU path used by default."""
    assignment = Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order")[2]
    login(page, server.url, "reader1")
    page.goto(f"{server.url}/read/sessions/{assignment.session_id}/?assignment={assignment.pk}&gpu=1")
    wait_for_case(page)
    assert page.evaluate("window.__rw.rendering") == "gpu"
    _assert_shows_image(page)
    errors = rendered_vs_dicom(page, _stored_file(view(page)["instanceUid"]))
    assert np.median(errors) < 8 and np.percentile(errors, 90) < 20, (np.median(errors), errors.max())


def _score_and_submit(page, key="6"):
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press(key)
    page.keyboard.press("y")
    page.keyboard.press("Enter")


def _outbox(page):
    return page.evaluate("JSON.parse(localStorage.getItem('mrmc.outbox.v1.reader1') || '[]')")


def test_killing_the_server_mid_submit_loses_and_duplicates_nothing(page, server, demo_study):
    login(page, server.url, "reader1")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    first = page.evaluate("window.__rw.timings[0].assignment")

    # 1. The server stores the read, then dies before the browser hears back.
    def commit_then_crash(route):
        route.fetch()  # reaches the server, which commits the read
        server.kill()
        route.abort("connectionreset")

    page.route("**/api/v1/reads/", commit_then_crash)
    _score_and_submit(page, "6")
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'offline'")
    kept = _outbox(page)
    assert [item["body"]["assignment"] for item in kept] == [first]
    assert Read.objects.filter(assignment_id=first).count() == 1  # stored, unconfirmed
    page.unroute("**/api/v1/reads/")
    server.start()
    # The retry reuses the idempotency key: the server answers with the stored read.
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'saved'", timeout=40000)
    assert _outbox(page) == []
    read = Read.objects.get(assignment_id=first)
    assert str(read.idempotency_key) == kept[0]["body"]["idempotency_key"]
    wait_for_case(page, 2)
    second = page.evaluate("window.__rw.timings.at(-1).assignment")

    # 2. The server is down when the reader submits, and the reader reloads the page meanwhile.
    server.kill()
    _score_and_submit(page, "3")
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'offline'")
    assert [item["body"]["assignment"] for item in _outbox(page)] == [second]
    assert not Read.objects.filter(assignment_id=second).exists()
    server.start()
    page.reload()  # the outbox lives in the browser; the reloaded page sends it
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'saved'", timeout=40000)
    assert _outbox(page) == []
    reads = Read.objects.filter(reader__user__username="reader1")
    assert sorted(reads.values_list("assignment_id", flat=True)) == sorted([first, second])
    assert reads.get(assignment_id=second).rating == 30


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
    page.keyboard.press("Enter")

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
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'saved'")
    reads = {r.arm.name: r for r in Read.objects.filter(reader__user__username="reader1").select_related("arm")}
    assert reads["unaided"].rating == 4 and reads["aided"].rating == 2
    assert reads["unaided"].case_id == reads["aided"].case_id


def test_reader_changes_a_submitted_score_where_the_study_allows_it(page, server, demo_study, artifacts):
    from studies.models import ReadRevision, Study

    Study.objects.filter(pk=demo_study.pk).update(revision_policy=Study.RevisionPolicy.AUDITED)
    first = Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order").first()
    login(page, server.url, "reader1")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("3")
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    page.get_by_role("button", name="Previous case").click()
    wait_for_case(page, 3)
    assert "Case 1 of" in page.locator("#rw-case").inner_text()
    assert "changing its score" in page.locator("#rw-case").inner_text()
    assert page.locator("#rw-rating-value").inner_text() == "30"  # the submitted score, to change
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("6")
    save = page.get_by_role("button", name="Save change")
    assert save.is_disabled()  # a reason is required
    page.fill("#rw-reason", "second look at the right apex")
    page.screenshot(path=str(artifacts / "reading_change_score.png"))
    save.click()
    wait_for_case(page, 4)
    assert "Case 2 of" in page.locator("#rw-case").inner_text()  # back where the reader was
    page.wait_for_function("document.querySelector('#rw-save').dataset.state === 'saved'")
    read = Read.objects.get(assignment=first)
    assert read.rating == 60 and read.decision is True and read.revision == 1
    history = ReadRevision.objects.get(read=read)
    assert history.previous["rating"] == 30 and history.reason == "second look at the right apex"


def test_mammograms_hang_by_their_patient_orientation(page, server, demo_study, tmp_path):
    """A right CC stored mirrored and a left MLO stored upside down show exactly as the same
    views stored for display (chest walls meeting in the middle, lateral side up, feet down)."""
    import io

    from PIL import Image

    from .scenario import mammo_datasets, replace_case_images

    first, second = (
        a.case for a in Assignment.objects.filter(reader__user__username="reader1", session__number=1)
        .select_related("case").order_by("order")[:2]
    )
    replace_case_images(first, mammo_datasets(first.label), tmp_path / "as_displayed")
    turned = mammo_datasets(second.label)  # the same pixels under other UIDs
    for ds in turned:
        orientation = list(ds.PatientOrientation)
        if orientation == ["P", "L"]:  # R CC, mirrored: rows now run anterior
            ds.PixelData = np.ascontiguousarray(ds.pixel_array[:, ::-1]).tobytes()
            ds.PatientOrientation = ["A", "L"]
        elif orientation == ["A", "FR"]:  # L MLO, upside down: columns now run to the head
            ds.PixelData = np.ascontiguousarray(ds.pixel_array[::-1]).tobytes()
            ds.PatientOrientation = ["A", "HL"]
    replace_case_images(second, turned, tmp_path / "turned")

    def screen(index):
        return np.asarray(Image.open(io.BytesIO(page.locator(".rw-viewport").nth(index).screenshot())).convert("L"))

    login(page, server.url, "reader1")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    as_displayed = [screen(i) for i in range(4)]
    assert not any(view(page, i)["flipHorizontal"] or view(page, i)["flipVertical"] for i in range(4))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("3")
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    flips = [(view(page, i)["flipHorizontal"], view(page, i)["flipVertical"]) for i in range(4)]
    assert flips == [(True, False), (False, False), (False, False), (False, True)], flips
    for index, expected in enumerate(as_displayed):
        difference = np.abs(screen(index).astype(int) - expected.astype(int))
        assert expected.std() > 10 and np.mean(difference) < 2 and np.percentile(difference, 99) < 20, (
            index, np.mean(difference), np.percentile(difference, 99))
