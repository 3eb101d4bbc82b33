"""Benchmark of resumable DICOM uploads in headless Chromium (run: python benchmarks/bench_upload.py).

Sets up the demo study in a throw-away folder, writes a zip of synthetic DICOM images (by default 256
images of 2048x2048 16-bit pixels: 2.1 GB), logs in as the demo coordinator and drops the zip on the
study's Images page. When half of it has arrived the server process is killed (SIGKILL) and started
again two seconds later; the page goes on where the server's offset says. Prints the upload rate (without
the outage), the time from the server being back to the next chunk stored, the import's time, and
what the import found: files stored, duplicates (must be 0) and rejected, the instances in the study,
and the bytes the browser had acknowledged against the file's size.

Needs /usr/bin/chromium and about three times the zip's size free under the temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from viewer_demo import demo_server

ALL_DONE = "window.__uploads && window.__uploads.files().length && window.__uploads.files().every(" \
           "(f) => ['imported', 'failed', 'cancelled'].includes(f.state))"


def wait_for(condition, timeout_s: float, what: str, every_s: float = 0.02):
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s} s")
        time.sleep(every_s)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="images in the zip (default 256)")
    parser.add_argument("--size", type=int, default=2048, help="image rows and columns (default 2048)")
    parser.add_argument("--kill-at", type=float, default=0.5, help="fraction received when the server is killed")
    parser.add_argument("--down-s", type=float, default=2.0, help="seconds the server stays down (default 2)")
    args = parser.parse_args()

    from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium).", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls between browser steps stay synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with demo_server(n_cases=2, size=64, prefix="mrmc-bench-upload-") as server:
        from django.conf import settings

        from studies.models import DicomInstance, Study, Upload
        from studies.services.demo import demo_password
        from tests.e2e.upload_files import write_dicom_zip

        study = Study.objects.get()
        before = DicomInstance.objects.filter(series__dicom_study__study=study).count()
        t0 = time.perf_counter()
        batch = write_dicom_zip(Path(settings.DATA_DIR) / "batch.zip", n_images=args.images,
                                shape=(args.size, args.size))
        size = batch.stat().st_size
        print(f"{args.images} images of {args.size}x{args.size} 16-bit in a {size / 1e9:.2f} GB zip, written in "
              f"{time.perf_counter() - t0:.1f} s; chunks of {settings.UPLOAD_CHUNK_MAX_BYTES >> 20} MiB")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{server.url}/accounts/login/?next=/console/studies/{study.pk}/images/")
            page.fill("#id_username", "coordinator")
            page.fill("#id_password", demo_password("coordinator"))
            page.click("input[type=submit]")
            page.wait_for_url(f"**/console/studies/{study.pk}/images/")

            def received() -> int:
                return Upload.objects.values_list("received", flat=True).first() or 0

            started = time.perf_counter()
            page.set_input_files("#pick-files", str(batch))
            wait_for(lambda: received() >= size * args.kill_at, 600, "the first part")
            killed = time.perf_counter()
            server.kill()
            at_kill = received()
            time.sleep(args.down_s)
            server.start()
            back = time.perf_counter()
            resumed_from = received()  # a chunk stored just before the kill may have been recorded after at_kill
            try:
                wait_for(lambda: received() > resumed_from, 120, "the first chunk after the restart")
            except TimeoutError:
                print(f"the page: {page.evaluate('window.__uploads.files()')}", file=sys.stderr)
                raise
            resumed = time.perf_counter()
            wait_for(lambda: received() == size, 600, "the last chunk")
            all_in = time.perf_counter()
            page.wait_for_timeout(100)
            wait_for(lambda: page.evaluate(ALL_DONE), 3600, "the import", every_s=0.5)
            imported = time.perf_counter()
            uploaded = page.evaluate("window.__uploads.files()")[0]
            stats = page.evaluate("window.__uploads.stats")
            browser.close()

        upload = Upload.objects.get()
        report = upload.job.result if upload.job else {}
        outage = resumed - killed
        sending = all_in - started - outage
        in_study = DicomInstance.objects.filter(series__dicom_study__study=study).count() - before
        print(f"killed at {at_kill / 1e6:.0f} MB of {size / 1e6:.0f} MB; server back {back - killed:.1f} s later "
              f"(down {args.down_s:.1f} s, start {back - killed - args.down_s:.1f} s)")
        print(f"time to resume (server back -> next chunk stored): {resumed - back:.2f} s; "
              f"browser retries {stats['retries']}, resumes {stats['resumes']}")
        print(f"upload: {size / 1e6 / sending:.0f} MB/s without the outage, "
              f"{size / 1e6 / (all_in - started):.0f} MB/s with it ({all_in - started:.1f} s for {size / 1e9:.2f} GB)")
        print(f"import: {imported - all_in:.1f} s ({args.images / max(imported - all_in, 1e-9):.1f} images/s)")
        print(f"upload {upload.status}; files {report.get('files')}, stored {report.get('stored')}, duplicates "
              f"{report.get('duplicates')}, rejected {report.get('rejected_count')}; new instances in the study "
              f"{in_study}; browser acknowledged {stats['bytesSent']} of {size} bytes; page says: {uploaded['text']}")
        ok = (upload.status == Upload.Status.IMPORTED and report.get("stored") == args.images
              and report.get("duplicates") == 0 and in_study == args.images)
        print("every file stored once" if ok else "NOT every file stored once")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
