"""Submitted reads in the reading workstation: nothing lost or duplicated when the server dies
mid-submit, a score changed with a reason where the study allows it, and the score just saved
undone within seconds through the same audited change."""

import re

import pytest

from studies.models import Assignment, Read

from .browser import assert_stored_as_shown, login, shown_score, wait_for_case, wait_saved

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _score_and_submit(page, key="6"):
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press(key)
    page.keyboard.press("y")
    page.keyboard.press("Enter")


def _outbox(page):
    return page.evaluate("JSON.parse(localStorage.getItem('mrmc.outbox.v1.reader1') || '[]')")


def test_killing_the_server_mid_submit_loses_and_duplicates_nothing(page, server, demo_study, page_problems):
    # The server is killed twice on purpose: what was in flight or sent meanwhile fails to connect.
    page_problems.expect(r"net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE)")
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
    assert save.get_attribute("aria-disabled") == "true"  # a reason is required
    save.click(force=True)  # Playwright waits for an aria-disabled button to be enabled; a reader need not
    assert "Not submitted. Still needed: the reason for the change" in page.locator("#rw-score-message").inner_text()
    assert ReadRevision.objects.count() == 0
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



def test_the_score_just_saved_can_be_undone_for_a_few_seconds(page, server, demo_study):
    """Undo reopens the case with the values stored, and saving it again goes through the audited
    change, whose reason says the reader undid it and how soon."""
    from studies.models import ReadRevision, Study

    Study.objects.filter(pk=demo_study.pk).update(revision_policy=Study.RevisionPolicy.AUDITED)
    first, second = Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order")[:2]
    login(page, server.url, "reader1")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("3")
    page.keyboard.press("y")
    submitted = shown_score(page)
    page.keyboard.press("Enter")
    wait_for_case(page, 2)
    wait_saved(page)
    assert page.locator("#rw-notice-text").inner_text() == "✓ Saved case 1: rating 30 · positive"
    assert_stored_as_shown(page, server.url, first.pk, submitted)

    page.keyboard.press("u")
    wait_for_case(page, 3)
    assert "Case 1 of" in page.locator("#rw-case").inner_text()
    assert "changing its score" in page.locator("#rw-case").inner_text()
    assert shown_score(page) == submitted  # reopened with the values the server holds
    reason = page.locator("#rw-reason").input_value()
    assert re.fullmatch(r"Undone by the reader \d+ s after submitting", reason), reason
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("6")
    page.keyboard.press("n")
    changed = shown_score(page)
    page.keyboard.press("Enter")
    wait_for_case(page, 4)
    assert "Case 2 of" in page.locator("#rw-case").inner_text()  # back where the reader was
    wait_saved(page)
    assert page.locator("#rw-notice-text").inner_text() == "✓ Saved change to case 1: rating 60 · negative"
    assert_stored_as_shown(page, server.url, first.pk, changed)
    read = Read.objects.get(assignment=first)
    history = ReadRevision.objects.get(read=read)
    assert read.revision == 1 and history.previous["rating"] == 30 and history.previous["decision"] is True
    assert history.reason == reason

    # Past the undo window the button goes, and U does nothing.
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("5")
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    wait_for_case(page, 5)
    assert page.locator("#rw-undo").is_visible()
    page.wait_for_timeout(10_500)
    assert page.locator("#rw-undo").count() == 0
    page.keyboard.press("u")
    page.wait_for_timeout(500)
    assert "Case 3 of" in page.locator("#rw-case").inner_text()
    assert not ReadRevision.objects.filter(read__assignment=second).exists()
