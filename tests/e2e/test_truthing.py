"""The truthing workbench in headless Chromium against the real server: three truthers and an adjudicator establish
the truth of ten cases in two rounds (LIDC: blinded, then showing the other experts' round-1 marks). Each truther
lands on their truthing worklist after login and labels cases in the workstation's truthing mode (label keys, a box
dragged, a polygon and a point clicked on the image, Enter); the rest of their labels go through the same API from
the test. The adjudicator settles a disputed case in the browser. The coordinator's console shows agreement figures
equal to independently computed ones (statsmodels' Fleiss' kappa, Dice of the stored boxes computed here) and writes
the final truth, whose method and experts end up in the case rows."""

import json
import uuid

import numpy as np
import pytest
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from studies.models import Case, Role, Study, TruthLabel
from studies.services import truthing
from tests.conftest import create_study, create_user

from .browser import wait_for_case, wait_saved, wait_until
from .scenario import replace_case_images, stack_datasets

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RULE = {"rounds": 2, "marks": ["box", "point", "polygon"], "matching": {"iou": 0.5, "point_radius": 10},
        "thresholds": {"kappa": 0.6, "dice": 0.8}, "final": "adjudicated"}
# Each truther's label of cases C000..C009, per round. Round 2: C007 and C008 stay disputed.
LABELS = {
    1: {"E1": [1, 0, 1, 1, 0, 0, 1, 0, 1, 0], "E2": [1, 0, 1, 0, 0, 1, 1, 0, 0, 0], "E3": [1, 0, 0, 1, 0, 0, 1, 1, 1, 0]},
    2: {"E1": [1, 0, 1, 1, 0, 0, 1, 0, 1, 0], "E2": [1, 0, 1, 1, 0, 0, 1, 0, 0, 0], "E3": [1, 0, 1, 1, 0, 0, 1, 1, 1, 0]},
}
BOX_E1 = (60, 60, 140, 120)  # image pixels: x0, y0, x1, y1, as E1 drags it on C000 in both rounds
POLYGON_E2 = [(62, 58), (138, 58), (138, 124), (62, 124)]  # E2's round-1 outline of the C000 lesion
POINT_E3 = (100, 90)  # E3's round-1 point on it
ROUND2_BOXES = {(0, "E2"): (64, 58, 138, 124), (0, "E3"): (58, 62, 142, 118),  # what E2 and E3 send in round 2
                (2, "E1"): (30, 150, 90, 200), (2, "E2"): (34, 152, 92, 204), (2, "E3"): (28, 146, 86, 198)}


def _panel(coordinator, tmp_path) -> tuple[Study, list[Case], dict]:
    study = create_study(coordinator, n_readers=0, n_cases=10, arms=(("unaided", False),), status=Study.Status.DRAFT)
    cases = list(study.cases.order_by("id"))
    for case in cases:
        replace_case_images(case, stack_datasets(case.label, n_slices=1, shape=(256, 256)), tmp_path / case.label)
    truthing.set_rule(actor=coordinator, study=study, rule=RULE)
    users = {}
    for code, name in (("E1", "truther1"), ("E2", "truther2"), ("E3", "truther3"), ("A1", "adjudicator")):
        users[code] = create_user(name, Role.TRUTHER, first_name=f"Expert {code}")
        member = truthing.add_member(actor=coordinator, study=study, user=users[code], adjudicator=code == "A1")
        assert member.code == code
    return Study.objects.get(pk=study.pk), [Case.objects.get(pk=case.pk) for case in cases], users


def _sop(case: Case) -> str:
    return case.dicom_study.series.get().instances.get().sop_instance_uid


def _box(case: Case, corners) -> dict:
    x0, y0, x1, y1 = corners
    return {"type": "box", "sop_instance_uid": _sop(case), "frame": 1, "points": [[x0, y0], [x1, y1]]}


def _log_in(page, base_url: str, username: str) -> None:
    """Log in from the login page's own form (no next): a truther lands on their truthing worklist."""
    page.context.clear_cookies()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url("**/read/truthing/")


def _post(page, url: str, body: dict) -> None:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    answer = page.request.post(url, data=json.dumps(body), headers={"Content-Type": "application/json",
                                                                    "X-CSRFToken": token})
    assert answer.status == 201, answer.text()


def _label_rest(page, base_url: str, study: Study, cases: list[Case], code: str, round_: int, skip=()) -> None:
    """The truther's labels of ``round_`` through the API, but for the cases (indexes) in ``skip``."""
    for i, case in enumerate(cases):
        if i in skip:
            continue
        corners = ROUND2_BOXES.get((i, code)) if round_ == 2 else None
        _post(page, f"{base_url}/api/v1/studies/{study.pk}/truthing/labels/", {
            "case": case.pk, "round": round_, "idempotency_key": str(uuid.uuid4()), "label": LABELS[round_][code][i],
            "lesions": [_box(case, corners)] if corners else [], "comment": ""})


def _open(page, study: Study, n_opened: int = 1) -> None:
    page.locator(f"article[data-truthing-study='{study.pk}'] a.button").click()
    wait_for_case(page, n_opened)


def _canvas(page, x: float, y: float) -> tuple[float, float]:
    """Where image pixel (x, y) of the first viewport is on the page."""
    origin = page.locator(".rw-viewport").first.bounding_box()
    cx, cy = page.evaluate(f"window.__rw.imageToCanvas(0, {x}, {y})")
    return origin["x"] + cx, origin["y"] + cy


def _drag_box(page, corners) -> None:
    x0, y0, x1, y1 = corners
    page.locator("[data-kind='box']").click()  # the box kind, and the Mark tool
    page.mouse.move(*_canvas(page, x0, y0))
    page.mouse.down()
    page.mouse.move(*_canvas(page, (x0 + x1) / 2, (y0 + y1) / 2), steps=4)
    page.mouse.move(*_canvas(page, x1, y1), steps=4)
    page.mouse.up()


def _stored(study: Study, code: str, case: Case, round_: int) -> TruthLabel:
    return TruthLabel.objects.get(case=case, member__study=study, member__code=code, round=round_)


def _assert_box_near(mark: dict, corners) -> None:
    assert mark["type"] == "box"
    assert np.allclose(np.array(mark["points"]).ravel(), corners, atol=1.0), mark


def _dice(a, b) -> float:
    """Dice of two axis-aligned boxes (x0, y0, x1, y1): twice the overlap over the sum of the areas."""
    overlap = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return 2 * overlap / (area(a) + area(b))


def _figure(page, name: str) -> str:
    return page.locator(f"#truthing-agreement tr[data-figure='{name}'] td.estimate").inner_text()


def test_a_panel_truths_ten_cases_in_two_rounds_and_a_dispute_is_adjudicated(page, server, coordinator, tmp_path,
                                                                              artifacts, page_problems):
    study, cases, users = _panel(coordinator, tmp_path)

    # E1, round 1 (blinded): C000 diseased with a box dragged on the image, C001 not; the rest through the API.
    _log_in(page, server.url, "truther1")
    card = page.locator(f"article[data-truthing-study='{study.pk}']")
    assert "E1 · round 1, blinded" in card.inner_text() and "0 of 10 cases labelled in round 1" in card.inner_text()
    page.screenshot(path=str(artifacts / "truthing_worklist.png"))
    _open(page, study)
    assert page.title() == f"Truthing · {study.title}"
    assert page.locator("#rw-mode").inner_text() == "TRUTHING" and page.locator("#rw-round").inner_text() == "Round 1"
    assert page.locator("#rw-case").inner_text() == "Case 1 of 10 · C000"
    assert page.locator("#rw-ai").is_hidden() and page.locator("#rw-others").is_hidden()
    assert [b.inner_text() for b in page.locator(".rw-kinds button").all()] == ["Box", "Point", "Polygon"]
    page.keyboard.press("Enter")  # no label yet: refused, saying what is missing
    assert page.locator("#rw-status").inner_text() == "Choose a label first: diseased (Y) or not diseased (N)."
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("y")
    assert page.locator("#rw-label-yes").get_attribute("aria-pressed") == "true"
    _drag_box(page, BOX_E1)
    assert page.locator(".rw-overlay .rw-shape.rw-own rect").count() == 1
    assert page.locator(".rw-shape-list li").all_inner_texts()[0].startswith("1. box 80×60 px")
    page.screenshot(path=str(artifacts / "truthing_round1_box.png"))
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    assert page.locator("#rw-case").inner_text() == "Case 2 of 10 · C001"
    assert page.locator(".rw-overlay .rw-shape").count() == 0
    page.keyboard.press("n")
    page.keyboard.press("c")
    page.keyboard.type("clear")
    page.keyboard.press("Enter")  # from the comment field too
    wait_for_case(page, 3)
    wait_saved(page)
    first, second = _stored(study, "E1", cases[0], 1), _stored(study, "E1", cases[1], 1)
    assert first.label == 1 and len(first.lesions) == 1 and first.lesions[0]["sop_instance_uid"] == _sop(cases[0])
    _assert_box_near(first.lesions[0], BOX_E1)
    assert (second.label, second.lesions, second.comment) == (0, [], "clear")
    _label_rest(page, server.url, study, cases, "E1", 1, skip={0, 1})

    # E2, round 1: C000 outlined with a polygon (clicks, the first vertex again to close it), submitted while the
    # server cannot be reached: the label waits in the browser, through a reload, and is stored once.
    _log_in(page, server.url, "truther2")
    _open(page, study)
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("y")
    page.locator("[data-kind='polygon']").click()
    for x, y in [*POLYGON_E2, POLYGON_E2[0]]:
        page.mouse.click(*_canvas(page, x, y))
    assert page.locator(".rw-overlay .rw-shape.rw-own polygon").count() == 1
    assert page.locator(".rw-shape-list li").all_inner_texts()[0].startswith("1. polygon, 4 vertices")
    page_problems.expect(r"request failed: POST .*/truthing/labels/", r"ERR_INTERNET_DISCONNECTED .*/truthing/labels/")
    page.route("**/truthing/labels/", lambda route: route.abort("internetdisconnected"))
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    wait_until(page, "document.querySelector('#rw-save').dataset.state === 'offline'")
    assert page.locator("#rw-save").inner_text().startswith("1 label kept in this browser, not yet saved")
    assert not TruthLabel.objects.filter(member__study=study, member__code="E2").exists()
    page.unroute("**/truthing/labels/")
    page.reload()
    wait_for_case(page, 1)
    assert page.locator("#rw-case").inner_text() == "Case 2 of 10 · C001"  # C000's label waits in the outbox
    wait_saved(page)
    polygon = _stored(study, "E2", cases[0], 1).lesions[0]
    assert polygon["type"] == "polygon" and np.allclose(polygon["points"], POLYGON_E2, atol=1.0), polygon
    _label_rest(page, server.url, study, cases, "E2", 1, skip={0})

    # E3, round 1: C000 with a point clicked on the lesion; the rest through the API. Round 2 opens for the panel.
    _log_in(page, server.url, "truther3")
    _open(page, study)
    page.locator("[data-kind='point']").click()
    page.mouse.click(*_canvas(page, *POINT_E3))
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("y")
    assert page.locator(".rw-overlay .rw-shape.rw-own[data-type='point'] circle").count() == 1
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    wait_saved(page)
    point = _stored(study, "E3", cases[0], 1).lesions[0]
    assert point["type"] == "point" and np.allclose(point["points"], [POINT_E3], atol=1.0), point
    _label_rest(page, server.url, study, cases, "E3", 1, skip={0})

    # E1, round 2: C000 with the other experts' round-1 labels and marks, in their colours and codes.
    _log_in(page, server.url, "truther1")
    assert "E1 · round 2: the other experts' round-1 labels and marks are shown" in card.inner_text()
    _open(page, study)
    assert page.locator("#rw-round").inner_text() == "Round 2"
    others = page.locator("#rw-others")
    assert others.locator("h2").inner_text() == "Round-1 labels of the other experts"
    assert others.locator("li").all_inner_texts() == ["E2 round 1: diseased · 1 polygon",
                                                      "E3 round 1: diseased · 1 point"]
    assert page.locator(".rw-overlay .rw-shape.rw-expert-0 polygon").count() == 1
    assert page.locator(".rw-overlay .rw-shape.rw-expert-1 circle").count() == 1
    assert page.locator(".rw-overlay .rw-shape.rw-expert-0 text").text_content() == "E2"
    colours = [page.evaluate("(c) => getComputedStyle(document.querySelector(`#rw-others li.${c}`)).color", c)
               for c in ("rw-expert-0", "rw-expert-1")]
    assert colours[0] != colours[1]
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("y")
    _drag_box(page, BOX_E1)
    page.screenshot(path=str(artifacts / "truthing_round2_others.png"))
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    wait_saved(page)
    _assert_box_near(_stored(study, "E1", cases[0], 2).lesions[0], BOX_E1)
    _label_rest(page, server.url, study, cases, "E1", 2, skip={0})
    for code, name in (("E2", "truther2"), ("E3", "truther3")):
        _log_in(page, server.url, name)
        _label_rest(page, server.url, study, cases, code, 2)

    # The adjudicator: two disputes (C007, C008); C007 settled in the browser from E3's label, with a note.
    _log_in(page, server.url, "adjudicator")
    assert "0 of 2 disputes settled · 2 to settle" in card.inner_text()
    page.screenshot(path=str(artifacts / "truthing_adjudicator_worklist.png"))
    _open(page, study)
    assert page.locator("#rw-round").inner_text() == "Adjudication"
    assert page.locator("#rw-case").inner_text() == "Dispute 1 of 2 · C007"
    assert others.locator("h2").inner_text() == "Disputed: labels differ: E1 0, E2 0, E3 1"
    assert others.locator("li").all_inner_texts() == [
        "E1 round 2: not diseased · no marks Start from E1's", "E2 round 2: not diseased · no marks Start from E2's",
        "E3 round 2: diseased · no marks Start from E3's"]
    page.locator("[data-adopt='E3']").click()
    assert page.locator("#rw-label-yes").get_attribute("aria-pressed") == "true"
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("Enter")  # no note yet: refused, saying so
    assert page.locator("#rw-status").inner_text() == "Say in the note (C) why the case is decided so."
    page.keyboard.press("c")
    page.keyboard.type("A faint opacity in the right lower zone: E3 is right")
    page.screenshot(path=str(artifacts / "truthing_adjudication.png"))
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    wait_saved(page)
    decision = cases[7].adjudication
    assert (decision.label, decision.note) == (1, "A faint opacity in the right lower zone: E3 is right")
    _post(page, f"{server.url}/api/v1/studies/{study.pk}/truthing/adjudications/", {
        "case": cases[8].pk, "label": 0, "lesions": [], "note": "No lesion on review",
        "idempotency_key": str(uuid.uuid4())})

    # The coordinator's console: agreement figures as computed independently, the disputes settled, Finalize.
    page.context.clear_cookies()
    page.goto(f"{server.url}/accounts/login/?next=/console/studies/{study.pk}/truthing/")
    page.fill("#id_username", "coord")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"**/console/studies/{study.pk}/truthing/")
    for round_ in (1, 2):
        table, _ = aggregate_raters(np.array([LABELS[round_][code] for code in ("E1", "E2", "E3")]).T)
        assert _figure(page, f"kappa-round-{round_}") == f"{fleiss_kappa(table, method='fleiss'):.3f}"
    kappa_2 = fleiss_kappa(aggregate_raters(np.array([LABELS[2][c] for c in ("E1", "E2", "E3")]).T)[0])
    result = page.locator("#truthing-agreement tr[data-figure='kappa-round-2'] td.result").inner_text()
    assert result == ("passed" if kappa_2 >= RULE["thresholds"]["kappa"] else "not reached")
    # Round 2's marks: boxes on C000 and C002, every pair of experts matched (IoU >= 0.5): Dice of the stored boxes.
    boxes = {(i, code): np.array(_stored(study, code, cases[i], 2).lesions[0]["points"]).ravel()
             for i in (0, 2) for code in ("E1", "E2", "E3")}
    dices = [_dice(boxes[i, a], boxes[i, b]) for i in (0, 2) for a, b in (("E1", "E2"), ("E1", "E3"), ("E2", "E3"))]
    assert _figure(page, "dice") == f"{np.mean(dices):.3f}"
    assert "6 matched pairs" in page.locator("#truthing-agreement tr[data-figure='dice']").inner_text()
    dice_result = page.locator("#truthing-agreement tr[data-figure='dice'] td.result").inner_text()
    assert dice_result == ("passed" if np.mean(dices) >= RULE["thresholds"]["dice"] else "not reached")
    assert [row.inner_text() for row in page.locator("#truthing-disputes td.adjudicated").all()] == ["yes", "yes"]
    assert page.locator("#truthing-panel tr[data-member='E1'] td.progress").all_inner_texts() == ["10 / 10", "10 / 10"]
    page.screenshot(path=str(artifacts / "truthing_console.png"), full_page=True)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#truthing-finalize").click()
    page.wait_for_selector("#truthing-final-state")
    assert "The panel's truth is written to the 10 cases (8 consensus, 2 adjudicated)." in page.locator(
        ".messages").inner_text()
    page.screenshot(path=str(artifacts / "truthing_console_final.png"), full_page=True)

    final = {case.label: case for case in Case.objects.filter(study=study)}
    assert [final[f"C{i:03d}"].truth for i in range(10)] == [*LABELS[2]["E1"][:7], 1, 0, 0]
    assert [final[f"C{i:03d}"].truth_method for i in range(10)] == ["consensus"] * 7 + ["adjudicated"] * 2 + [
        "consensus"]
    assert {case.truth_established_by for case in final.values()} == {"Panel E1, E2, E3; adjudicator A1"}
    lesion = final["C000"].lesions[0]  # the three round-2 boxes matched: their centres averaged
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in (boxes[0, c] for c in ("E1", "E2", "E3"))]
    assert (lesion["x"], lesion["y"]) == pytest.approx(tuple(np.mean(centres, axis=0)), abs=1e-3)
    assert final["C007"].truth_provenance["adjudication"]["note"].startswith("A faint opacity")
