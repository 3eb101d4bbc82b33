"""Steps the e2e tests share: logging in, waiting for a case, reading the canvas."""

import re
import time

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from studies.services.demo import demo_password

CANVAS_STATS = """(index) => {
  const canvas = window.__rw.hanging.element(index).querySelector('canvas');
  const { width, height } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  let n = 0, sum = 0, sum2 = 0, bright = 0;
  for (let i = 0; i < data.length; i += 16) {
    const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
    n++; sum += y; sum2 += y * y; if (y > 15) bright++;
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), bright: bright / n, width, height };
}"""

CANVAS_SAMPLES = """([index, points, radius]) => {
  const canvas = window.__rw.hanging.element(index).querySelector('canvas');
  const ctx = canvas.getContext('2d');
  const scale = canvas.width / canvas.clientWidth;
  return points.map(([x, y]) => {
    const cx = Math.round(x * scale), cy = Math.round(y * scale);
    const d = ctx.getImageData(cx - radius, cy - radius, 2 * radius + 1, 2 * radius + 1).data;
    let sum = 0;
    for (let i = 0; i < d.length; i += 4) sum += d[i];
    return sum / (d.length / 4);
  });
}"""


def login(page, base_url: str, username: str, next_url: str = "/read/", password: str | None = None) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password or demo_password(username))
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_url}")


def wait_until(page, expression: str, timeout_s: float = 30) -> None:
    """Poll ``expression`` until it is truthy. Unlike ``page.wait_for_function``, which evaluates
    its predicate with ``eval`` in the page, this works under the production CSP (no 'unsafe-eval')."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


def wait_for_case(page, n_opened: int = 1) -> dict:
    """Wait until the ``n_opened``-th case of this page load shows its first image."""
    wait_until(page, f"window.__rw && window.__rw.caseReady && window.__rw.timings.length >= {n_opened}")
    errors = page.evaluate("window.__rw.errors")
    assert not errors, errors
    return page.evaluate("window.__rw.timings.at(-1)")


# The scoring panel as the reader sees it: the rating shown, the decision pressed, each mark's
# confidence as its field shows it, the comment.
SHOWN_SCORE = """() => {
  const panel = document.querySelector('#rw-scoring');
  const rating = panel.querySelector('#rw-rating-value').textContent;
  const pressed = panel.querySelector('[data-decision][aria-pressed="true"]');
  return {
    rating: rating === 'not set' ? null : Number(rating),
    decision: pressed ? pressed.dataset.decision === 'true' : null,
    marks: [...panel.querySelectorAll('.rw-marks input')].map((i) => (i.value === '' ? null : Number(i.value))),
    comment: panel.querySelector('#rw-comment').value,
  };
}"""


def shown_score(page) -> dict:
    """What the scoring panel shows as chosen, read before it is submitted."""
    return page.evaluate(SHOWN_SCORE)


def assert_stored_as_shown(page, base_url: str, assignment_id: int, shown: dict) -> None:
    """The read of ``assignment_id`` as the database holds it and as the reader's API returns it is
    exactly what the panel showed."""
    from studies.models import Read

    def as_compared(read: dict) -> dict:
        return {"rating": read["rating"], "decision": read["decision"],
                "marks": [mark["confidence"] for mark in read["marks"]], "comment": read["comment"]}

    stored = Read.objects.values("rating", "decision", "marks", "comment").get(assignment_id=assignment_id)
    assert as_compared(stored) == shown
    answered = page.request.get(f"{base_url}/api/v1/reads/").json()
    assert as_compared(next(read for read in answered if read["assignment"] == assignment_id)) == shown


def wait_saved(page) -> None:
    """Until the outbox is empty: every score submitted so far is stored."""
    wait_until(page, "document.querySelector('#rw-save').dataset.state === 'saved'")


def canvas_stats(page, index: int = 0) -> dict:
    return page.evaluate(CANVAS_STATS, index)


def view(page, index: int = 0) -> dict:
    return page.evaluate("(i) => window.__rw.view(i)", index)


def rendered_vs_dicom(page, path, index: int = 0, n_points: int = 150, seed: int = 0) -> np.ndarray:
    """Absolute differences (0-255) between the canvas and the DICOM pixels windowed with the
    viewport's current VOI, at random points of the image, each averaged over the same area."""
    ds = pydicom.dcmread(path)
    pixels = apply_modality_lut(ds.pixel_array, ds).astype(np.float64)
    rows, cols = pixels.shape
    state = view(page, index)
    lower, upper = state["voi"]["lower"], state["voi"]["upper"]
    rng = np.random.default_rng(seed)
    points = np.column_stack([rng.uniform(0.15, 0.85, n_points) * cols, rng.uniform(0.15, 0.85, n_points) * rows])
    to_canvas = "([i, pts]) => pts.map(([x, y]) => window.__rw.imageToCanvas(i, x, y))"
    canvas_points = np.array(page.evaluate(to_canvas, [index, points.tolist()]))
    # Image pixels per canvas pixel, from two mapped points.
    a, b = page.evaluate(to_canvas, [index, [[0, 0], [cols, 0]]])
    scale = cols / max(1e-6, abs(b[0] - a[0]))
    radius = 2  # canvas pixels
    shown = np.array(page.evaluate(CANVAS_SAMPLES, [index, canvas_points.tolist(), radius]))
    half = max(1, int(round((radius + 0.5) * scale)))
    expected = []
    for x, y in points.astype(int):
        patch = pixels[max(0, y - half): y + half + 1, max(0, x - half): x + half + 1]
        value = np.clip((patch - lower) / (upper - lower), 0, 1) * 255
        expected.append(value.mean())
    expected = np.array(expected)
    if (ds.PhotometricInterpretation == "MONOCHROME1") != state["invert"]:
        expected = 255 - expected
    return np.abs(shown - expected)


class PageProblems:
    """Console errors (of pages and their workers), uncaught page errors, failed requests to our own
    server and its answers of 400 or more, in every page of a browser context.

    A request the browser itself cancels (``net::ERR_ABORTED``: a navigation away, an aborted fetch)
    is no failure. A test that provokes a problem on purpose (a killed server, a refused transcoding)
    names it with :meth:`expect` beforehand; whatever else happened fails the test at its end.
    """

    def __init__(self):
        self.seen: list[str] = []
        self.expected: list[re.Pattern] = []

    def expect(self, *patterns: str) -> None:
        """Problems matching any of these regular expressions (searched in the text) are expected."""
        self.expected.extend(re.compile(pattern) for pattern in patterns)

    def watch(self, context, *, origin: str) -> None:
        ours = origin.rstrip("/") + "/"

        def page_opened(page):
            page.on("console", lambda m: m.type == "error" and self._add(f"console: {m.text} ({m.location.get('url')})"))
            page.on("pageerror", lambda error: self._add(f"page error: {error}"))
            page.on("worker", lambda worker: worker.on(
                "console", lambda m: m.type == "error" and self._add(f"worker console: {m.text}")))

        context.on("page", page_opened)
        context.on("requestfailed", lambda request: request.url.startswith(ours)
                   and request.failure != "net::ERR_ABORTED"
                   and self._add(f"request failed: {request.method} {request.url} ({request.failure})"))
        context.on("response", lambda response: response.url.startswith(ours) and response.status >= 400
                   and self._add(f"{response.status}: {response.request.method} {response.url}"))

    def _add(self, problem: str) -> None:
        self.seen.append(problem)

    def unexpected(self) -> list[str]:
        return [problem for problem in self.seen if not any(p.search(problem) for p in self.expected)]

    def assert_none(self) -> None:
        unexpected = self.unexpected()
        assert not unexpected, "the browser reported problems:\n" + "\n".join(unexpected)
