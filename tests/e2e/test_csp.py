"""The Content-Security-Policy in Chromium: the reading workstation (WebAssembly codecs, module
workers, blob: images) reads a case under it, and the staff pages render, with no violation.
Also the workstation across a session that ends while a reader reads: the score waits in the
outbox and is sent after the reader logs in again."""

import pytest

from studies.models import Read

from .browser import canvas_stats, login, wait_for_case, wait_until
from .enforced import enforced_server, expected_policy, record_violations, served_policy, violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    with enforced_server(dicom_store, tmp_path) as process:
        yield process


@pytest.fixture
def watched(page):
    """The page, recording CSP violations of every document it loads."""
    record_violations(page)
    return page


def test_reading_workstation_works_under_the_policy(watched, server, demo_study, tmp_path):
    """The first case is stored JPEG-LS compressed: its frames are decoded by CharLS compiled to
    WebAssembly in a module worker, the path that needs 'wasm-unsafe-eval' and worker-src."""
    from pydicom.uid import JPEGLSLossless

    from studies.models import Assignment, DicomInstance

    from .scenario import replace_case_images, stack_datasets

    first = Assignment.objects.filter(reader__user__username="reader1", session__number=1).order_by("order")[0]
    datasets = stack_datasets(first.case.label, n_slices=2, shape=(512, 512))
    for ds in datasets:
        ds.compress(JPEGLSLossless)
    served_uid = replace_case_images(first.case, datasets, tmp_path / "jpegls")
    assert set(DicomInstance.objects.filter(series__dicom_study__study_instance_uid=served_uid)
               .values_list("transfer_syntax_uid", flat=True)) == {JPEGLSLossless}
    page = watched
    wasm = []
    page.context.on("response", lambda r: r.url.endswith(".wasm") and wasm.append(r))
    login(page, server.url, "reader1")
    assert not violations(page)
    with page.expect_response(lambda r: "/read/sessions/" in r.url) as reading_page:
        page.locator("article.session a.button").first.click()
    policy = served_policy(reading_page.value)
    assert policy == expected_policy()
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]

    wait_for_case(page, 1)
    assert [r for r in wasm if "charls" in r.url], "the JPEG-LS decoder was not loaded"
    assert all(served_policy(r) == policy for r in wasm)  # static files carry the policy too
    stats = canvas_stats(page, 0)
    assert stats["std"] > 10 and stats["bright"] > 0.2, stats
    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("7")
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    wait_for_case(page, 2)  # the four-view mammogram
    wait_until(page, "document.querySelector('#rw-save').dataset.state === 'saved'")

    assert Read.objects.filter(reader__user__username="reader1").count() == 1
    assert not violations(page), violations(page)


def test_staff_pages_render_under_the_policy(watched, server, demo_study):
    from studies.models import User
    from studies.services import analysis
    from studies.services.demo_analysis import simulate_reads

    page = watched
    simulate_reads(study=demo_study, seed=1)  # a run needs reads to freeze
    run = analysis.start_run(actor=User.objects.get(username="statistician"), study=demo_study)
    visited = {}
    for username, paths in [
        ("statistician", ["/", f"/analysis/studies/{demo_study.pk}/", f"/analysis/runs/{run.pk}/", "/api/docs/"]),
        ("admin", ["/admin/", "/admin/studies/study/", f"/admin/studies/study/{demo_study.pk}/change/"]),
    ]:
        page.context.clear_cookies()
        login(page, server.url, username, next_url=paths[0])
        for path in paths:
            response = page.goto(f"{server.url}{path}")
            page.wait_for_load_state("networkidle")
            if path == "/api/docs/":  # Swagger UI drew the API from the schema
                page.wait_for_selector(".swagger-ui .opblock")
            visited[path] = (response.status, violations(page))
    assert all(status == 200 for status, _ in visited.values()), visited
    assert not [v for _, v in visited.values() if v], visited


def test_outbox_keeps_a_score_across_an_idle_logout_and_a_new_login(watched, server, demo_study, page_problems):
    from django.contrib.sessions.backends.db import SessionStore

    from studies.security import ACTIVITY_KEY

    page = watched
    page_problems.expect("401")  # the ended session's requests, and the browser's log of them
    login(page, server.url, "reader1")
    page.locator("article.session a.button").first.click()
    wait_for_case(page, 1)
    # The reader pauses longer than the idle limit: the server ends the session at the next request.
    session_key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=session_key)
    session[ACTIVITY_KEY] -= 31 * 60
    session.save()

    page.locator(".rw-viewport").first.hover()
    page.keyboard.press("7")
    page.keyboard.press("y")
    page.keyboard.press("Enter")
    wait_until(page, "document.querySelector('#rw-save').textContent.includes('log in again')")
    assert not Read.objects.exists()
    kept = page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('mrmc.outbox'))"
                         ".map((k) => JSON.parse(localStorage.getItem(k))).flat()")
    assert [item["state"] for item in kept] == ["pending"]

    second = page.context.new_page()  # the reader logs in again in another tab
    login(second, server.url, "reader1")
    wait_until(page, "document.querySelector('#rw-save').dataset.state === 'saved'", timeout_s=60)
    read, = Read.objects.filter(reader__user__username="reader1")
    assert str(read.idempotency_key) == kept[0]["body"]["idempotency_key"]
