"""Submitted reads in the reading workstation: nothing lost or duplicated when the server dies
mid-submit, and a score changed with a reason where the study allows it."""

import pytest

from studies.models import Assignment, Read

from .browser import login, wait_for_case

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


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

