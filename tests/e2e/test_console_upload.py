"""DICOM uploads on the console's Images page in Chromium, under the enforced Content-Security-Policy: a zip
with one bad file among good ones (its reason shown, the good ones stored, and stored once when the zip comes
again), a folder, and an upload of about 130 MB that goes on where it stopped after the server process is
killed mid-upload and started again."""

import time

import numpy as np
import pytest

from studies.models import DicomInstance, Upload

from .browser import login, wait_until
from .enforced import enforced_server, record_violations, violations
from .upload_files import dicom_image, truncated_image, write_dicom_zip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALL_IMPORTED = "window.__uploads && window.__uploads.files().length >= {n} && window.__uploads.files().every(" \
               "(f) => ['imported', 'failed', 'cancelled'].includes(f.state))"
CHUNK_BYTES = 2 << 20


@pytest.fixture
def server(transactional_db, dicom_store, tmp_path):
    """The real server with the policy enforced and 2 MiB chunks (a 130 MB file takes 65 of them)."""
    with enforced_server(dicom_store, tmp_path, UPLOAD_CHUNK_MAX_BYTES=str(CHUNK_BYTES),
                         UPLOAD_MIN_FREE_BYTES="0") as process:
        yield process


@pytest.fixture
def study(make_study):
    return make_study(n_readers=1, n_cases=2)


@pytest.fixture
def images_page(page, server, study, coordinator):
    """The coordinator on the study's Images page, CSP violations recorded (``window.__csp``)."""
    record_violations(page)
    login(page, server.url, coordinator.username, next_url=f"/console/studies/{study.pk}/images/", password="pw")
    return page


def stored_in(study) -> int:
    return DicomInstance.objects.filter(series__dicom_study__study=study).count()


def row_text(page, path: str) -> str:
    return page.locator("#queue tbody tr", has_text=path).last.inner_text()


def test_a_zip_with_a_bad_file_shows_its_reason_and_stores_the_good_ones_once(images_page, study, tmp_path,
                                                                              artifacts):
    page = images_page
    batch = write_dicom_zip(tmp_path / "batch.zip", n_images=3, shape=(256, 256),
                            bad={"images/broken.dcm": truncated_image()})
    page.set_input_files("#pick-files", str(batch))
    wait_until(page, ALL_IMPORTED.format(n=1), timeout_s=60)
    first = row_text(page, "batch.zip")
    assert "3 stored · 0 already stored · 1 refused" in first
    assert "batch.zip:images/broken.dcm (truncated): truncated: PixelData" in first
    assert stored_in(study) == 3
    assert page.locator("#overall-bar").evaluate("(bar) => bar.value") == 1

    page.set_input_files("#pick-files", str(batch))  # the same zip again
    wait_until(page, ALL_IMPORTED.format(n=2), timeout_s=60)
    assert "0 stored · 3 already stored · 1 refused" in page.locator("#queue tbody tr").nth(1).inner_text()
    assert stored_in(study) == 3
    page.screenshot(path=artifacts / "console-upload.png", full_page=True)

    page.reload()  # both imports are listed with their outcome
    earlier = page.locator("#earlier").inner_text()
    assert earlier.count("batch.zip:images/broken.dcm") == 2
    assert not violations(page), violations(page)


def test_a_folder_goes_file_by_file(images_page, study, tmp_path):
    page = images_page
    folder = tmp_path / "scans"
    (folder / "day1").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for index in range(2):
        (folder / "day1" / f"{index}.dcm").write_bytes(dicom_image(index, (128, 128), rng))
    (folder / "day1" / "notes.txt").write_text("not an image")
    page.set_input_files("#pick-folder", str(folder))
    wait_until(page, ALL_IMPORTED.format(n=3), timeout_s=60)
    rows = {f["path"]: f["text"] for f in page.evaluate("window.__uploads.files()")}
    assert set(rows) == {"scans/day1/0.dcm", "scans/day1/1.dcm", "scans/day1/notes.txt"}
    assert rows["scans/day1/0.dcm"].startswith("1 stored")
    assert "scans/day1/notes.txt (not-dicom)" in row_text(page, "notes.txt")
    assert stored_in(study) == 2


def throttle(page, bytes_per_s: float) -> None:
    """Limit the page's uploads (DevTools network emulation), so that one lasts long enough to be interrupted."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": bytes_per_s})


def received_at_least(fraction: float, size: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while (received := Upload.objects.values_list("received", flat=True).first() or 0) < size * fraction:
        assert time.monotonic() < deadline, f"{received} of {size} bytes after {timeout_s} s"
        time.sleep(0.05)


def test_after_a_reload_the_same_file_resumes_and_a_cancelled_one_leaves_nothing(images_page, study, tmp_path):
    from studies.services.uploads import part_path

    page = images_page
    batch = write_dicom_zip(tmp_path / "batch.zip", n_images=3, shape=(2048, 2048))
    size = batch.stat().st_size
    throttle(page, 8e6)
    page.set_input_files("#pick-files", str(batch))
    received_at_least(0.3, size)
    page.on("dialog", lambda dialog: dialog.accept())  # "leave the page while files are on their way?"
    page.reload()
    throttle(page, 8e6)
    upload = Upload.objects.get()
    assert upload.file_name in page.locator("#unfinished").inner_text()
    page.set_input_files("#pick-files", str(batch))  # the same file, chosen again
    wait_until(page, ALL_IMPORTED.format(n=1), timeout_s=60)
    resumed_at = page.evaluate("window.__uploads.files()[0].resumedAt")
    assert resumed_at >= size * 0.3 and "resumed at" in page.locator("#queue").inner_text()
    assert page.locator("#unfinished tbody tr").count() == 0  # it left the unfinished list as it resumed
    assert Upload.objects.get().job.result["stored"] == 3 and stored_in(study) == 3

    other = write_dicom_zip(tmp_path / "other.zip", n_images=3, shape=(2048, 2048), seed=1)
    page.set_input_files("#pick-files", str(other))
    wait_until(page, "window.__uploads.files()[1] && window.__uploads.files()[1].offset > 0")
    page.locator("#queue tbody tr", has_text="other.zip").get_by_role("button", name="Cancel").click()
    wait_until(page, "window.__uploads.files()[1].state === 'cancelled'")
    cancelled = Upload.objects.get(file_name="other.zip")
    deadline = time.monotonic() + 10
    while cancelled.status != Upload.Status.CANCELLED and time.monotonic() < deadline:
        time.sleep(0.1)
        cancelled.refresh_from_db()
    assert cancelled.status == Upload.Status.CANCELLED and not part_path(cancelled).exists()
    assert stored_in(study) == 3


def test_an_upload_goes_on_where_it_stopped_after_the_server_is_killed(images_page, page_problems, server, study,
                                                                      tmp_path):
    page = images_page
    # While the server is down the browser's requests find no one listening (or the connection cut).
    page_problems.expect("ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE")
    n_images = 16
    batch = write_dicom_zip(tmp_path / "big.zip", n_images=n_images, shape=(2048, 2048))
    size = batch.stat().st_size
    throttle(page, 25e6)
    page.set_input_files("#pick-files", str(batch))
    received_at_least(0.4, size)
    server.kill()
    at_kill = Upload.objects.get().received
    assert at_kill < size
    time.sleep(2)  # the browser meets a closed port meanwhile, and waits to try again
    server.start()

    wait_until(page, ALL_IMPORTED.format(n=1), timeout_s=180)
    upload = Upload.objects.get()  # the same upload went on: none was started again
    assert upload.status == Upload.Status.IMPORTED and upload.received == size
    report = upload.job.result
    assert (report["stored"], report["duplicates"], report["rejected_count"]) == (n_images, 0, 0)
    assert stored_in(study) == n_images
    stats = page.evaluate("window.__uploads.stats")
    assert stats["resumes"] >= 1 and stats["retries"] >= 1
    # The browser had each chunk acknowledged once, but perhaps the one the kill cut off: stored then, its
    # answer lost, and either sent again (acknowledged without a second write) or skipped at the new offset.
    assert size - CHUNK_BYTES <= stats["bytesSent"] <= size + CHUNK_BYTES
    assert not violations(page)
