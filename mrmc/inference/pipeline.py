"""Batched inference over cases, decoding the next images while the model runs on the current batch.

Decoding and preprocessing run on a thread pool (pydicom's codecs, numpy and Pillow release the GIL
for the heavy parts) and at most ``prefetch`` images are decoded ahead, so memory stays bounded
whatever the number of cases. Every batch is padded to the full batch size, so an image's score
never depends on which other images shared its batch: the same model and images give the same
outputs however the cases are split between processes.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset

from .card import MAX_FINDINGS_PER_IMAGE, ModelCard
from .images import PreparedImage, UnusableImage, prepare
from .runtime import OnnxModel

DECODE_WORKERS = 2  # on the CPU, decoding shares the cores with the model; a GPU is fed by every core


@dataclass(frozen=True)
class ImageRef:
    """One frame of one instance of a case; ``load`` reads its dataset (called on a decode thread)."""

    sop_instance_uid: str
    frame: int
    modality: str
    load: Callable[[], Dataset]


@dataclass(frozen=True)
class CaseImages:
    case: str
    images: tuple[ImageRef, ...]


@dataclass
class CaseResult:
    """A case's score and findings, with what each of its images gave; or why it was not scored."""

    case: str
    score: float | None = None
    findings: list[dict] = field(default_factory=list)
    inputs: list[dict] = field(default_factory=list)
    error: str = ""


@dataclass
class Timings:
    """Seconds spent decoding (summed over the decode threads), in the model, and waiting for decoding."""

    images: int = 0
    decode_s: float = 0.0
    inference_s: float = 0.0
    wait_s: float = 0.0


def run_cases(cases: Iterable[CaseImages], model: OnnxModel, *, decode_workers: int | None = None,
              prefetch: int | None = None, timings: Timings | None = None) -> Iterator[CaseResult]:
    """Score each case, in order; a case with an image that cannot be used is returned with its error.

    Parameters
    ----------
    cases : iterable of CaseImages
        The cases and their images; images of modalities the card does not take are left out.
    model : OnnxModel
        The checked model; its batch size is the batch size.
    decode_workers, prefetch : int
        Decode threads (default :data:`DECODE_WORKERS`; when the model runs on a GPU, one per core this process
        may run on: a container's CPU limit is not counted, give it here), and
        images decoded ahead of the model (default two batches, and at least two per thread).
    timings : Timings, optional
        Filled in as the work goes.
    """
    card, timings = model.card, timings if timings is not None else Timings()
    decode_workers = decode_workers or (len(os.sched_getaffinity(0)) if model.on_gpu else DECODE_WORKERS)
    prefetch = prefetch or max(2 * model.batch_size, 2 * decode_workers)
    with ThreadPoolExecutor(max_workers=decode_workers, thread_name_prefix="decode") as pool:
        decoded = _decode_ahead(_selected(cases, card), card, pool, prefetch, timings)
        yield from _score(decoded, model, timings)


def _selected(cases: Iterable[CaseImages], card: ModelCard) -> Iterator[tuple[CaseResult, list[ImageRef]]]:
    for case in cases:
        result = CaseResult(case.case)
        images = [image for image in case.images if not card.modalities or image.modality in card.modalities]
        if not images:
            result.error = (f"no images of modality {', '.join(card.modalities)}" if card.modalities
                            else "no images")
        yield result, images


def _decode_ahead(cases, card: ModelCard, pool: ThreadPoolExecutor, prefetch: int,
                  timings: Timings) -> Iterator[tuple[CaseResult, int, Future]]:
    """(case, number of its images, future of one prepared image), with at most ``prefetch`` in flight."""
    in_flight: deque = deque()
    for result, images in cases:
        if not images:
            in_flight.append((result, 0, None))
        for image in images:
            in_flight.append((result, len(images), pool.submit(_prepare, image, card, timings)))
            while len(in_flight) > prefetch:
                yield in_flight.popleft()
    yield from in_flight


def _prepare(image: ImageRef, card: ModelCard, timings: Timings) -> PreparedImage | str:
    started = time.perf_counter()
    try:
        ds = image.load()
        return prepare(ds, image.frame, card)
    except UnusableImage as exc:
        return f"image {image.sop_instance_uid} frame {image.frame}: {exc}"
    except Exception as exc:  # a store that cannot give the file: reported with the case
        return f"image {image.sop_instance_uid} frame {image.frame}: cannot be read ({type(exc).__name__}: {exc})"
    finally:
        timings.decode_s += time.perf_counter() - started  # float += under the GIL: a race only loses a sample


@dataclass
class _Pending:
    """A case being scored: how many of its images came back from decoding, and what each scored."""

    result: CaseResult
    count: int
    decoded: int = 0
    scored: list = field(default_factory=list)

    @property
    def all_decoded(self) -> bool:
        return self.decoded == self.count


def _score(decoded, model: OnnxModel, timings: Timings) -> Iterator[CaseResult]:
    """Fill batches in order; a case is yielded once all its images are scored (or one could not be used)."""
    pending: deque[_Pending] = deque()  # cases not yet yielded, in order
    batch: list[tuple[_Pending, PreparedImage]] = []
    for result, count, future in decoded:
        if not pending or pending[-1].result is not result:
            pending.append(_Pending(result, count))
        case = pending[-1]
        if future is not None:
            started = time.perf_counter()
            prepared = future.result()
            timings.wait_s += time.perf_counter() - started
            case.decoded += 1
            if isinstance(prepared, str):
                result.error = result.error or prepared
            else:
                batch.append((case, prepared))
        if len(batch) == model.batch_size:
            _run_batch(batch, model, timings)
            batch = []
        yield from _finished(pending, model.card, in_batch={id(item[0]) for item in batch})
    if batch:
        _run_batch(batch, model, timings)
    yield from _finished(pending, model.card, in_batch=set())


def _run_batch(batch: list, model: OnnxModel, timings: Timings) -> None:
    tensors = np.zeros(model.card.input_shape(model.batch_size), dtype=np.float32)  # padded: see the module
    for slot, (_, prepared) in enumerate(batch):
        tensors[slot] = prepared.tensor
    started = time.perf_counter()
    scores, findings = model.run(tensors)
    timings.inference_s += time.perf_counter() - started
    timings.images += len(batch)
    for slot, (case, prepared) in enumerate(batch):
        case.scored.append((prepared, float(scores[slot]), None if findings is None else findings[slot]))


def _finished(pending: deque[_Pending], card: ModelCard, *, in_batch: set[int]) -> Iterator[CaseResult]:
    """Yield the cases at the front whose images have all been decoded and none waits in the batch."""
    while pending and pending[0].all_decoded and id(pending[0]) not in in_batch:
        case = pending.popleft()
        if not case.result.error:
            _combine(case.result, case.scored, card)
        yield case.result


def _combine(result: CaseResult, images: list, card: ModelCard) -> None:
    scores = np.array([score for _, score, _ in images], dtype=np.float64)
    low, high = card.score_range
    if not (np.isfinite(scores).all() and (scores >= low).all() and (scores <= high).all()):
        bad = next(s for s in scores if not (np.isfinite(s) and low <= s <= high))
        result.error = f"the model gave the score {bad}, outside the card's score_range [{low}, {high}]"
        return
    result.score = float(scores.max() if card.combine == "max" else scores.mean())
    for prepared, score, rows in images:
        result.inputs.append({"sop_instance_uid": prepared.sop_instance_uid, "frame": prepared.frame,
                              "pixel_sha256": prepared.pixel_sha256, "score": score})
        if rows is not None:
            result.findings += _findings(prepared, rows, card)


def _findings(prepared: PreparedImage, rows: np.ndarray, card: ModelCard) -> list[dict]:
    """The model's boxes above the card's threshold, highest first, in the image's pixel coordinates."""
    kept = rows[np.isfinite(rows).all(axis=1) & (rows[:, 4] >= card.finding_min_score) & (rows[:, 2] > 0)
                & (rows[:, 3] > 0)]
    kept = kept[np.argsort(-kept[:, 4], kind="stable")][:MAX_FINDINGS_PER_IMAGE]
    sx, sy = prepared.columns / card.width, prepared.rows / card.height
    return [{"type": "box", "x": round(float(x * sx), 2), "y": round(float(y * sy), 2),
             "width": round(float(w * sx), 2), "height": round(float(h * sy), 2), "score": round(float(s), 6),
             "label": card.finding_label, "sop_instance_uid": prepared.sop_instance_uid, "frame": prepared.frame}
            for x, y, w, h, s in kept]
