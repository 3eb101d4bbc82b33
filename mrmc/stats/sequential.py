"""Sequential reading: how readers changed their score once the AI was revealed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoreChanges:
    """Counts of reads whose aided score rose, fell or stayed, overall and by truth class.

    ``decision_*`` count changes of the call at ``threshold`` (positive at or above it):
    ``to_positive`` / ``to_negative`` over all cases, ``corrected`` where the aided call is
    right and the unaided was wrong, ``spoiled`` the reverse.
    """

    n_reads: int
    increased: int
    decreased: int
    unchanged: int
    increased_diseased: int
    decreased_diseased: int
    increased_normal: int
    decreased_normal: int
    mean_change_diseased: float
    mean_change_normal: float
    threshold: float | None
    decision_to_positive: int | None
    decision_to_negative: int | None
    decision_corrected: int | None
    decision_spoiled: int | None


def score_changes(
    unaided: np.ndarray, aided: np.ndarray, truth: np.ndarray, *, threshold: float | None = None
) -> ScoreChanges:
    """Direction and size of the change from the unaided to the AI-aided score of each read.

    Parameters
    ----------
    unaided, aided : array_like, shape (n_readers, n_cases)
        The score before and after the AI result was shown.
    truth : array_like of bool, shape (n_cases,)
    threshold : float, optional
        Rating at or above which a read is a positive call.

    Notes
    -----
    A change "in the right direction" is an increase on a diseased case or a decrease on
    a non-diseased one. The design (unaided score locked in, then the AI shown and the
    score revised) is that of Kobayashi et al. (1996).

    References
    ----------
    Kobayashi T, Xu XW, MacMahon H, Metz CE, Doi K (1996). Effect of a computer-aided
    diagnosis scheme on radiologists' performance in detection of lung nodules on
    radiographs. Radiology 199:843-848.
    """
    unaided, aided = np.asarray(unaided, dtype=float), np.asarray(aided, dtype=float)
    truth = np.broadcast_to(np.asarray(truth, dtype=bool), unaided.shape)
    change = aided - unaided
    up, down = change > 0, change < 0
    decisions = _decision_changes(unaided, aided, truth, threshold)
    return ScoreChanges(
        n_reads=int(change.size),
        increased=int(up.sum()),
        decreased=int(down.sum()),
        unchanged=int(change.size - up.sum() - down.sum()),
        increased_diseased=int((up & truth).sum()),
        decreased_diseased=int((down & truth).sum()),
        increased_normal=int((up & ~truth).sum()),
        decreased_normal=int((down & ~truth).sum()),
        mean_change_diseased=float(change[truth].mean()) if truth.any() else float("nan"),
        mean_change_normal=float(change[~truth].mean()) if (~truth).any() else float("nan"),
        threshold=threshold,
        **decisions,
    )


def _decision_changes(unaided, aided, truth, threshold) -> dict:
    if threshold is None:
        return dict.fromkeys(("decision_to_positive", "decision_to_negative", "decision_corrected", "decision_spoiled"))
    before, after = unaided >= threshold, aided >= threshold
    right_before, right_after = before == truth, after == truth
    return {
        "decision_to_positive": int((~before & after).sum()),
        "decision_to_negative": int((before & ~after).sum()),
        "decision_corrected": int((~right_before & right_after).sum()),
        "decision_spoiled": int((right_before & ~right_after).sum()),
    }
