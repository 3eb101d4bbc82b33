"""Automation bias: the readers with and without the AI, where the AI is right and where it is wrong.

The cases are split, before any reader's result is looked at, by the AI's own call at its operating
point (a score at or above it is a positive call): *AI correct* where that call equals the truth,
*AI wrong* where it does not (the AI's false negatives and false positives). Within each stratum the
readers' sensitivity, specificity and AUC are compared between the unaided and the AI-aided arm, each
reader's accuracy on the stratum's cases is compared between the arms (helped: fewer errors with the
AI; harmed: more), and in sequential reading each changed score is counted as moving toward or away
from the AI's call.

References
----------
Goddard K, Roudsari A, Wyatt JC (2012). Automation bias: a systematic review of frequency, effect
mediators, and mitigators. J Am Med Inform Assoc 19:121-127.
Alberdi E, Povyakalo A, Strigini L, Ayton P (2004). Effects of incorrect computer-aided detection
(CAD) output on decision-making in mammography. Acad Radiol 11:909-918.
Dratsch T, Chen X, Rezazade Mehrizi M, et al. (2023). Automation bias in mammography: the impact of
artificial intelligence BI-RADS suggestions on reader performance. Radiology 307:e222176.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .analysis import analyze
from .binary import binary_endpoint_analysis
from .data import StudyDataError
from .sequential import score_changes

STRATA = ("AI correct", "AI wrong")
MEASURES = ("sensitivity", "specificity", "auc")
_BINARY_KIND = {"sensitivity": "sens", "specificity": "spec"}
CALL_THRESHOLD = 0.5  # calls are 1.0 (positive) or 0.0 (negative)


@dataclass(frozen=True)
class AICalls:
    """The AI's calls at its operating point, counted against the truth."""

    operating_point: float
    n_cases: int
    true_positive: int
    true_negative: int
    false_negative: int
    false_positive: int


@dataclass(frozen=True)
class StratumMeasure:
    """One reader-averaged measure in one stratum: per arm and aided minus unaided; ``reason`` when not computed."""

    measure: str
    n_cases: int
    unaided: float | None = None
    unaided_ci: tuple[float, float] | None = None
    aided: float | None = None
    aided_ci: tuple[float, float] | None = None
    difference: float | None = None
    difference_se: float | None = None
    difference_df: float | None = None
    difference_ci: tuple[float, float] | None = None
    p: float | None = None
    generalization: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReaderChange:
    """One reader's correct calls on a stratum's cases read in both arms.

    ``effect``: 'helped' (more correct calls with the AI), 'harmed' (fewer), 'unchanged', or 'no cases'.
    """

    reader: str
    n_cases: int
    correct_unaided: int
    correct_aided: int
    accuracy_unaided: float | None
    accuracy_aided: float | None
    became_wrong: int
    became_right: int
    effect: str


@dataclass(frozen=True)
class ShiftsTowardAI:
    """Sequential reading: the reads of a stratum whose score moved toward the AI's call, away from it, or stayed;
    and the calls that changed to agree or to disagree with the AI."""

    n_reads: int
    toward_ai: int
    away_from_ai: int
    unchanged: int
    calls_to_ai: int
    calls_from_ai: int


@dataclass(frozen=True)
class StratumResult:
    stratum: str
    n_cases: int
    n_diseased: int
    n_normal: int
    measures: tuple[StratumMeasure, ...]
    readers: tuple[ReaderChange, ...]
    helped: int
    harmed: int
    unchanged: int
    shifts: ShiftsTowardAI | None


@dataclass(frozen=True)
class AutomationBias:
    ai_calls: AICalls
    unaided: str
    aided: str
    strata: tuple[StratumResult, ...]


def ai_calls(ai_scores: np.ndarray, truth: np.ndarray, operating_point: float) -> tuple[AICalls, np.ndarray]:
    """The AI's calls counted against the truth, and the mask of the cases where its call is wrong."""
    positive = np.asarray(ai_scores, dtype=float) >= operating_point
    truth = np.asarray(truth, dtype=bool)
    counts = AICalls(
        operating_point=float(operating_point),
        n_cases=int(truth.size),
        true_positive=int((positive & truth).sum()),
        true_negative=int((~positive & ~truth).sum()),
        false_negative=int((~positive & truth).sum()),
        false_positive=int((positive & ~truth).sum()),
    )
    return counts, positive != truth


def automation_bias(
    ratings: np.ndarray,
    calls: np.ndarray,
    truth: np.ndarray,
    ai_scores: np.ndarray,
    *,
    operating_point: float,
    arms: tuple[str, str],
    readers: tuple[str, ...],
    sequential: bool = False,
    alpha: float = 0.05,
    convention: str = "iowa",
    cov: str = "jackknife",
    n_bootstrap: int = 2000,
    seed: int | None = None,
) -> AutomationBias:
    """Reader performance without and with the AI on the cases the AI gets right and those it gets wrong.

    Parameters
    ----------
    ratings, calls : ndarray, shape (2, n_readers, n_cases)
        The unaided arm first, then the AI-aided arm; NaN where a read does not exist. ``calls`` are the
        readers' positive (1) or negative (0) calls: their own decision, or their rating at the study's
        decision threshold.
    truth : ndarray of bool, shape (n_cases,)
    ai_scores : ndarray, shape (n_cases,)
        The AI's score of each case; at or above ``operating_point`` is its positive call.
    arms : (unaided label, aided label)
    sequential : bool
        Whether the aided score revises the same reader's unaided score of the same case (Kobayashi et
        al. 1996): then each changed score is counted toward or away from the AI's call.
    cov, n_bootstrap, seed, convention, alpha
        As :func:`mrmc.stats.analyze` (the AUC within a stratum).

    Notes
    -----
    Sensitivity and specificity within a stratum are the Obuchowski-Rockette analysis of the calls with
    the jackknife restricted to the cases of the measure's class (:func:`mrmc.stats.binary_endpoint_analysis`;
    Smith & Hillis 2020, MRMCaov's ``binary_sens``/``binary_spec``); the AUC, where both classes are in the
    stratum, is :func:`mrmc.stats.analyze` on the stratum's cases. Intervals and the aided minus unaided
    difference are random-reader random-case (RRRC, Hillis 2007), or fixed-reader (FRRC) with one reader; an
    arm's interval is clipped to [0, 1].
    Both need every reader to read every case in both arms; each reader's helped/harmed count uses the
    cases that reader read in both arms. The strata follow the AI's output, not the readers', so the
    comparison within each is a pre-declared subgroup analysis (Dratsch et al. 2023 report reader accuracy
    the same way, split by whether the AI suggestion was correct).

    References
    ----------
    Kobayashi T, Xu XW, MacMahon H, Metz CE, Doi K (1996). Radiology 199:843-848.
    Hillis SL (2007). Statistics in Medicine 26:596-619.
    Smith BJ, Hillis SL (2020). Proc SPIE 11316.
    Dratsch T et al. (2023). Radiology 307:e222176.
    """
    ratings, calls = np.asarray(ratings, dtype=float), np.asarray(calls, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    counts, wrong = ai_calls(ai_scores, truth, operating_point)
    inference = {"alpha": alpha, "convention": convention, "cov": cov, "n_bootstrap": n_bootstrap, "seed": seed}
    strata = tuple(
        _stratum(name, in_stratum, ratings, calls, truth, arms, readers, sequential, ai_is_right, inference)
        for name, in_stratum, ai_is_right in ((STRATA[0], ~wrong, True), (STRATA[1], wrong, False))
    )
    return AutomationBias(ai_calls=counts, unaided=arms[0], aided=arms[1], strata=strata)


def _stratum(name, in_stratum, ratings, calls, truth, arms, readers, sequential, ai_is_right, inference):
    ratings, calls, truth = ratings[..., in_stratum], calls[..., in_stratum], truth[in_stratum]
    changes = tuple(_reader_change(reader, calls[:, r], truth) for r, reader in enumerate(readers))
    effects = [change.effect for change in changes]
    return StratumResult(
        stratum=name,
        n_cases=int(truth.size),
        n_diseased=int(truth.sum()),
        n_normal=int((~truth).sum()),
        measures=tuple(_measure(measure, ratings, calls, truth, arms, readers, inference) for measure in MEASURES),
        readers=changes,
        helped=effects.count("helped"),
        harmed=effects.count("harmed"),
        unchanged=effects.count("unchanged"),
        shifts=_shifts(ratings, calls, truth, ai_is_right) if sequential else None,
    )


def _measure(measure, ratings, calls, truth, arms, readers, inference) -> StratumMeasure:
    n_cases = int(truth.size if measure == "auc" else (truth if measure == "sensitivity" else ~truth).sum())
    if np.isnan(ratings).any() or np.isnan(calls).any():
        return StratumMeasure(measure, n_cases, reason="needs every reader to read every case in both arms")
    aided_first = (arms[1], arms[0])  # differences are first minus second: aided minus unaided
    try:
        if measure == "auc":
            if not truth.any() or truth.all():
                return StratumMeasure(measure, n_cases, reason="the stratum has cases of one class only")
            analysis = analyze(ratings[::-1], truth, treatments=aided_first, readers=readers, fom="auc",
                               **inference).analysis
        else:
            if n_cases < 2:
                return StratumMeasure(measure, n_cases, reason=f"fewer than two {_class_name(measure)} cases")
            analysis = binary_endpoint_analysis(
                calls[::-1], truth, kind=_BINARY_KIND[measure], threshold=CALL_THRESHOLD, treatments=aided_first,
                readers=readers, method="or", convention=inference["convention"], alpha=inference["alpha"],
            ).analysis
    except (StudyDataError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return StratumMeasure(measure, n_cases, reason=str(exc))
    generalization = analysis.rrrc or analysis.frrc
    aided, unaided = generalization.treatment_ci
    difference = generalization.differences[0]
    return StratumMeasure(
        measure, n_cases, unaided=unaided.estimate, unaided_ci=_clipped(unaided.ci), aided=aided.estimate,
        aided_ci=_clipped(aided.ci),
        difference=difference.estimate, difference_se=difference.se, difference_df=difference.df,
        difference_ci=difference.ci, p=difference.p, generalization=generalization.name,
    )


def _clipped(ci: tuple[float, float]) -> tuple[float, float]:
    """A proportion's or an AUC's interval within [0, 1], as pROC clips the AUC's."""
    return max(ci[0], 0.0), min(ci[1], 1.0)


def _class_name(measure: str) -> str:
    return "diseased" if measure == "sensitivity" else "non-diseased"


def _reader_change(reader: str, calls: np.ndarray, truth: np.ndarray) -> ReaderChange:
    """``calls`` (2, n_cases): unaided then aided, NaN where not read."""
    both = ~np.isnan(calls).any(axis=0)
    right_unaided, right_aided = (calls[:, both] >= CALL_THRESHOLD) == truth[both]
    n = int(both.sum())
    correct_unaided, correct_aided = int(right_unaided.sum()), int(right_aided.sum())
    if n == 0:
        effect = "no cases"
    else:
        effect = "helped" if correct_aided > correct_unaided else "harmed" if correct_aided < correct_unaided \
            else "unchanged"
    return ReaderChange(
        reader=reader, n_cases=n, correct_unaided=correct_unaided, correct_aided=correct_aided,
        accuracy_unaided=correct_unaided / n if n else None, accuracy_aided=correct_aided / n if n else None,
        became_wrong=int((right_unaided & ~right_aided).sum()), became_right=int((~right_unaided & right_aided).sum()),
        effect=effect,
    )


def _shifts(ratings, calls, truth, ai_is_right: bool) -> ShiftsTowardAI:
    """Toward the AI's call: on AI-correct cases toward the truth, on AI-wrong cases away from it."""
    paired = ~np.isnan(ratings).any(axis=0) & ~np.isnan(calls).any(axis=0)
    truth_of_read = np.broadcast_to(truth, paired.shape)[paired]
    scores = score_changes(ratings[0][paired], ratings[1][paired], truth_of_read)
    flips = score_changes(calls[0][paired], calls[1][paired], truth_of_read, threshold=CALL_THRESHOLD)
    toward_truth = scores.increased_diseased + scores.decreased_normal
    away_from_truth = scores.decreased_diseased + scores.increased_normal
    return ShiftsTowardAI(
        n_reads=scores.n_reads,
        toward_ai=toward_truth if ai_is_right else away_from_truth,
        away_from_ai=away_from_truth if ai_is_right else toward_truth,
        unchanged=scores.unchanged,
        calls_to_ai=flips.decision_corrected if ai_is_right else flips.decision_spoiled,
        calls_from_ai=flips.decision_spoiled if ai_is_right else flips.decision_corrected,
    )
