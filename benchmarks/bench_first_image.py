"""Time to first image per transfer syntax and link (run: python benchmarks/bench_first_image.py).

Sets up the demo study (``seed_demo``: synthetic 2048x2048 16-bit DX, one image a case) in a
throw-away database, starts the real server (as benchmarks/bench_viewer.py does) and prints:

- the server's cost per frame and form, timed on the frame request itself (loopback, no
  browser): the first request, which encodes the frame, and a repeat served from the frame
  cache (median over the cases); every frame of every form is in the cache after this step;
- for each link, Chrome DevTools Protocol ``Network.emulateNetworkConditions`` at 20 Mbit/s
  and 100 Mbit/s with 20 ms latency, and unthrottled loopback, and for each form the
  reading page can be forced into (``?transfer=``: uncompressed and every offered syntax) and
  its default choice (auto): time to first image (the case opened until its first image is
  drawn) and to full quality (until every viewport shows its whole image), the median over
  ``--cases`` cases each opened cold in its own page load, and the bytes of an image as sent.

A fresh browser context for each form and link (an empty HTTP cache); one case opened first
in it and not counted (the page, Cornerstone and the decoders loaded once, as for a reader).
Only every other case of the session is opened: the page prefetches the case after the one it
shows, which would otherwise come partly from the browser's cache.
Goals (issue): at 20 Mbit/s first image under 1 s and full quality under 2 s. Cornerstone
draws the partial images of a streamed frame (HTJ2K RPCL) on its GPU path only: ``--render
gpu`` forces it where WebGL is software (headless Chromium); auto takes the CPU path there.
Needs the built viewer (``make viewer``) and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import urllib.request

from viewer_demo import demo_server, missing_prerequisite, reader_session

FORMS = {  # ?transfer= value: (label, Accept of the direct frame request)
    "uncompressed": ("uncompressed", "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"),
    "1.2.840.10008.1.2.4.80": ("JPEG-LS Lossless", "image/jls; transfer-syntax=1.2.840.10008.1.2.4.80"),
    "1.2.840.10008.1.2.4.90": ("JPEG 2000 Lossless", "image/jp2; transfer-syntax=1.2.840.10008.1.2.4.90"),
    "1.2.840.10008.1.2.4.201": ("HTJ2K Lossless", "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.201"),
    "1.2.840.10008.1.2.4.202": ("HTJ2K Lossless RPCL", "image/jphc; transfer-syntax=1.2.840.10008.1.2.4.202"),
    "auto": ("auto (the viewer's default)", None),
}
LINKS = {  # name: (Mbit/s down and up, latency ms); None: unthrottled
    "20 Mbit/s, 20 ms": (20, 20),
    "100 Mbit/s, 20 ms": (100, 20),
    "unthrottled (loopback)": None,
}
GOAL_LINK = "20 Mbit/s, 20 ms"
GOAL_FIRST_MS, GOAL_FULL_MS = 1000, 2000


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(value: float | None) -> str:
    return "      -" if value is None else f"{value:7.0f}"


def frame_urls(base_url: str) -> list[str]:
    """Frame 1 of each instance reader1 may see now, in case order."""
    from studies.models import DicomInstance, User
    from studies.permissions import dicom_studies_visible_to

    visible = dicom_studies_visible_to(User.objects.get(username="reader1"))
    instances = (DicomInstance.objects.filter(series__dicom_study__in=visible)
                 .select_related("series__dicom_study").order_by("id"))
    return [f"{base_url}/dicomweb/studies/{i.series.dicom_study.study_instance_uid}/series/"
            f"{i.series.series_instance_uid}/instances/{i.sop_instance_uid}/frames/1" for i in instances]


def timed_get(url: str, accept: str, cookie: str) -> tuple[float, int]:
    """(ms to the last byte, body bytes) of one request."""
    request = urllib.request.Request(url, headers={"Accept": accept, "Cookie": cookie})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
    return (time.perf_counter() - start) * 1000, len(body)


def server_costs(urls: list[str], cookie: str) -> None:
    print("\nServer, per frame (loopback, direct request; median over the frames):")
    print(f"  {'form':<28} {'first request ms':>17} {'cached ms':>10} {'bytes':>11}")
    for label, accept in FORMS.values():
        if accept is None:
            continue
        runs = [(timed_get(url, accept, cookie), timed_get(url, accept, cookie)) for url in urls]
        first = median([first[0] for first, _ in runs])
        cached = median([again[0] for _, again in runs])
        size = median([first[1] for first, _ in runs])
        print(f"  {label:<28} {first:>17.0f} {cached:>10.0f} {size:>11,.0f}")


def open_case(page, url: str, session_id: int, assignment: int, form: str, render: str) -> dict:
    query = f"?assignment={assignment}" + ("" if form == "auto" else f"&transfer={form}")
    query += {"auto": "", "cpu": "&cpu=1", "gpu": "&gpu=1"}[render]
    page.goto(f"{url}/read/sessions/{session_id}/{query}")
    page.wait_for_function("window.__rw && (window.__rw.errors.length"
                           " || (window.__rw.caseReady && window.__rw.timings[0].fullQualityMs !== undefined))",
                           timeout=120000)
    errors = page.evaluate("window.__rw.errors")
    if errors:
        raise RuntimeError(f"the reading page failed: {errors}")
    return page.evaluate("window.__rw.timings[0]")


def measure_link(browser, url: str, session_id: int, assignments: list[int], cookies: list, link, render: str):
    """{form: (first image ms, full quality ms, bytes per image, syntaxes seen, rendering path)}."""
    results = {}
    for form in FORMS:
        context = browser.new_context(viewport={"width": 1920, "height": 1080})
        context.add_cookies(cookies)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        if link is not None:
            mbit, latency = link
            rate = mbit * 1_000_000 / 8
            cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency,
                                                          "downloadThroughput": rate, "uploadThroughput": rate})
        open_case(page, url, session_id, assignments[0], form, render)  # warm-up: not counted
        timings = [open_case(page, url, session_id, a, form, render) for a in assignments[1:]]
        images = [image for t in timings for image in t["images"]]
        results[form] = (
            median([t["openToFirstImageMs"] for t in timings]),
            median([t["fullQualityMs"] for t in timings]),
            median([i["frame"]["bytes"] for i in images if i and i["frame"]]),
            sorted({i["transferSyntax"] for i in images if i}),
            page.evaluate("window.__rw.rendering"),
        )
        context.close()
    return results


def report_link(name: str, results: dict) -> None:
    path = next(iter(results.values()))[4].upper()
    print(f"\n{name} (Cornerstone {path} rendering), median over the cases:")
    print(f"  {'form':<30} {'first image ms':>14} {'full quality ms':>16} {'bytes/image':>12}  syntax received")
    for form, (first, full, size, syntaxes, _) in results.items():
        size_text = "-" if size is None else f"{size:,.0f}"
        print(f"  {FORMS[form][0]:<30} {fmt_ms(first):>14} {fmt_ms(full):>16} {size_text:>12}  {', '.join(syntaxes)}")


def report_goals(results: dict) -> None:
    print(f"\nGoals at {GOAL_LINK}: first image < {GOAL_FIRST_MS} ms, full quality < {GOAL_FULL_MS} ms")
    for form, (first, full, *_rest) in results.items():
        met_first = first is not None and first < GOAL_FIRST_MS
        met_full = full is not None and full < GOAL_FULL_MS
        print(f"  {FORMS[form][0]:<30} first image {'met' if met_first else 'NOT met':<8} "
              f"full quality {'met' if met_full else 'NOT met'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3, help="cases timed per form and link (default 3)")
    parser.add_argument("--size", type=int, default=2048, help="image rows and columns (default 2048)")
    parser.add_argument("--render", choices=("auto", "cpu", "gpu"), default="auto",
                        help="Cornerstone rendering path; auto = CPU when WebGL is software (SwiftShader)")
    parser.add_argument("--links", nargs="+", choices=list(LINKS), default=list(LINKS), metavar="LINK",
                        help=f"links to time (default all: {', '.join(LINKS)})")
    args = parser.parse_args()

    problem = missing_prerequisite()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS

    with demo_server(n_cases=2 * (args.cases + 1), size=args.size, prefix="mrmc-bench-first-image-") as server:
        from django.db import connection

        urls = frame_urls(server.url)
        connection.close()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            session_id, session = reader_session(page, server.url)
            assignments = [a["id"] for a in session["assignments"]][::2][:args.cases + 1]
            if len(assignments) <= args.cases:
                raise RuntimeError(f"reader1's first session has too few cases: {session['assignments']}")
            cookies = page.context.cookies()
            page.close()
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
            server_costs(urls, cookie)
            measured = {}
            for name in args.links:
                measured[name] = measure_link(browser, server.url, session_id, assignments, cookies,
                                              LINKS[name], args.render)
                report_link(name, measured[name])
            browser.close()
    if GOAL_LINK in measured:
        report_goals(measured[GOAL_LINK])
    return 0


if __name__ == "__main__":
    sys.exit(main())
