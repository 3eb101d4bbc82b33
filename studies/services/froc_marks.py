"""Localization (FROC) from the platform's reads: readers' marks scored against the lesions in the truth.

A mark (``x``, ``y``, ``confidence``, ``instance_uid``, ``frame``; see ``reads._validate_marks``) is a
lesion localization (LL) of a lesion (``sop_instance_uid``, ``frame``, ``x``, ``y``, optional ``radius``
and ``weight``; the truth import's ``lesions``) when it is on the same image and frame and within the
lesion's radius of its centre, or, for a lesion without a radius, within ``acceptance_radius`` pixels
(default :data:`DEFAULT_ACCEPTANCE_RADIUS`). A mark near several lesions counts for the nearest. Per
lesion the highest-rated mark on it is its LL; every other mark is a non-lesion localization (NL), as
RJafroc scores FROC data. Lesion weights default to equal within a case (RJafroc's default).

The result is :class:`mrmc.stats.froc_data.FrocStudy` (arms in analysis order: AI arms first), which
``mrmc.stats.froc.analyze_froc`` analyses; :func:`froc_section` adds that analysis to a run's results.
"""

import math
from dataclasses import dataclass

import numpy as np

from mrmc.stats import StudyDataError
from mrmc.stats.froc import analyze_froc, froc_result_to_json
from mrmc.stats.froc_data import UNMARKED, FrocStudy
from studies.models import AnalysisRun, Study
from studies.selectors import study_reads

DEFAULT_ACCEPTANCE_RADIUS = 20.0  # pixels around a lesion centre given without a radius
FROC_FIGURES = ("wafroc", "afroc", "hrauc")  # wAFROC first: the primary FROC figure of merit


@dataclass(frozen=True)
class ScoredMarks:
    """One read's marks: the LL rating of each lesion (None where not found) and the NL ratings."""

    lesion_ratings: list[float | None]
    nl_ratings: list[float]


def score_marks(marks: list[dict], lesions: list[dict], *,
                acceptance_radius: float = DEFAULT_ACCEPTANCE_RADIUS) -> ScoredMarks:
    """Each mark an LL of the nearest lesion it falls on, the highest-rated per lesion; the rest NLs."""
    on_lesion: list[list[float]] = [[] for _ in lesions]
    nl: list[float] = []
    for mark in marks:
        hit = _nearest_lesion_hit(mark, lesions, acceptance_radius)
        (nl if hit is None else on_lesion[hit]).append(float(mark["confidence"]))
    for ratings in on_lesion:
        ratings.sort(reverse=True)
        nl.extend(ratings[1:])  # a second mark on a lesion is not a localization of another: an NL, as in RJafroc
    return ScoredMarks([ratings[0] if ratings else None for ratings in on_lesion], nl)


def _nearest_lesion_hit(mark: dict, lesions: list[dict], acceptance_radius: float) -> int | None:
    hits = []
    for index, lesion in enumerate(lesions):
        if mark.get("instance_uid") != lesion.get("sop_instance_uid"):
            continue
        if int(mark.get("frame") or 1) != int(lesion.get("frame") or 1):
            continue
        distance = math.hypot(mark["x"] - lesion["x"], mark["y"] - lesion["y"])
        if distance <= (lesion.get("radius") or acceptance_radius):
            hits.append((distance, index))
    return min(hits)[1] if hits else None


def froc_applies(study: Study) -> tuple[bool, str]:
    """Whether the study collects marks and every diseased case has lesions to score them against."""
    if not study.marks_enabled:
        return False, "the study does not collect lesion marks"
    diseased = study.cases.filter(truth=1)
    if not diseased.exists():
        return False, "no diseased cases"
    without = [case.label for case in diseased if not case.lesions]
    if without:
        return False, f"{len(without)} diseased case(s) have no lesions in the truth (e.g. {without[0]})"
    return True, ""


def froc_study(study: Study, *, acceptance_radius: float = DEFAULT_ACCEPTANCE_RADIUS) -> FrocStudy:
    """The study's reads as a fully crossed FROC study (arms in analysis order, AI arms first)."""
    reads = list(study_reads(study).filter(case__truth__isnull=False))
    treatments = list(dict.fromkeys(read.arm.name for read in reads))
    readers = list(dict.fromkeys(read.reader.code for read in reads))
    cases = {read.case.pk: read.case for read in reads}
    normal = sorted((c for c in cases.values() if c.truth == 0), key=lambda c: c.label)
    diseased = sorted((c for c in cases.values() if c.truth == 1), key=lambda c: c.label)
    if len(reads) != len(treatments) * len(readers) * len(cases):
        raise StudyDataError("FROC analysis needs every case read by every reader in every arm")
    k_of = {case.pk: k for k, case in enumerate(normal + diseased)}
    scored = {(read.arm.name, read.reader.code, read.case.pk): score_marks(
        read.marks, read.case.lesions, acceptance_radius=acceptance_radius) for read in reads}
    max_nl = max((len(s.nl_ratings) for s in scored.values()), default=0) or 1
    max_lesions = max(len(case.lesions) for case in diseased)
    nl = np.full((len(treatments), len(readers), len(k_of), max_nl), UNMARKED)
    ll = np.full((len(treatments), len(readers), len(diseased), max_lesions), UNMARKED)
    for (arm, reader, case_pk), marks in scored.items():
        t, r, k = treatments.index(arm), readers.index(reader), k_of[case_pk]
        nl[t, r, k, : len(marks.nl_ratings)] = marks.nl_ratings
        for slot, rating in enumerate(marks.lesion_ratings):
            if rating is not None:
                ll[t, r, k - len(normal), slot] = rating
    lesion_ids = np.zeros((len(diseased), max_lesions), dtype=int)
    weights = np.zeros(lesion_ids.shape)
    for k2, case in enumerate(diseased):
        lesion_ids[k2, : len(case.lesions)] = range(1, len(case.lesions) + 1)
        weights[k2, : len(case.lesions)] = _weights(case.lesions)
    return FrocStudy(nl=nl, ll=ll, weights=weights, lesion_ids=lesion_ids, treatments=tuple(treatments),
                     readers=tuple(readers), cases=tuple(c.label for c in normal + diseased), n_normal=len(normal))


def _weights(lesions: list[dict]) -> list[float]:
    given = [float(lesion.get("weight") or 0) for lesion in lesions]
    total = sum(given)
    return [w / total for w in given] if total > 0 else [1 / len(lesions)] * len(lesions)


def froc_section(run: AnalysisRun, *, convention: str, alpha: float) -> dict:
    """The run's FROC analysis (wAFROC primary, AFROC, HrAuc; OR, jackknife), or why there is none."""
    applies, reason = froc_applies(run.study)
    if not applies:
        return {"available": False, "reason": reason}
    try:
        data = froc_study(run.study)
        figures = {fom: froc_result_to_json(analyze_froc(data, fom=fom, convention=convention, alpha=alpha))
                   for fom in FROC_FIGURES}
    except (StudyDataError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return {"available": False, "reason": str(exc)}
    return {
        "available": True,
        "primary_figure": "wafroc",
        "acceptance_radius": DEFAULT_ACCEPTANCE_RADIUS,
        "n_lesions": data.n_lesions,
        "n_ll": int(np.isfinite(data.ll).sum()),
        "n_nl": int(np.isfinite(data.nl).sum()),
        "figures": figures,
    }
