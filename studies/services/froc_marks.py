"""Localization (FROC) of an analysis run: readers' marks scored against the lesions in the truth, both as
frozen with the run (the marks snapshot, :mod:`studies.services.analysis_snapshot`): marks or lesions changed
after the run was created change nothing in it, and a run made before marks were captured says so.

A mark (``x``, ``y``, ``confidence``, ``instance_uid``, ``frame``; see ``reads._validate_marks``) is a
lesion localization (LL) of a lesion (``sop_instance_uid``, ``frame``, ``x``, ``y``, optional ``radius``
and ``weight``; the truth import's ``lesions``) when it is on the same image and frame and within the
lesion's radius of its centre, or, for a lesion without a radius, within the acceptance radius (the study's
protocol setting ``froc_acceptance_radius``, frozen with the run). A mark near several lesions counts for the
nearest. Per lesion the highest-rated mark on it is its LL; every other mark is a non-lesion localization
(NL), as RJafroc scores FROC data. Lesion weights default to equal within a case (RJafroc's default).

The result is :class:`mrmc.stats.froc_data.FrocStudy` (arms in analysis order: AI arms first), which
``mrmc.stats.froc.analyze_froc`` analyses; as in RJafroc that needs a fully crossed design (every case read
by every reader in every arm), and a run whose reads are not says so. :func:`froc_section` adds that
analysis to a run's results.
"""

import math
from dataclasses import dataclass

import numpy as np

from mrmc.stats import StudyDataError
from mrmc.stats.froc import analyze_froc, froc_result_to_json
from mrmc.stats.froc_data import UNMARKED, FrocStudy
from studies.models import AnalysisRun
from studies.services.analysis_snapshot import MARKS_NOT_CAPTURED, FrozenMarks, Snapshot, parse_marks_snapshot
from studies.services.rule_fields import is_number

FROC_FIGURES = ("wafroc", "afroc", "hrauc")  # wAFROC first: the primary FROC figure of merit
FULLY_CROSSED = "a fully crossed design (every case read by every reader in every arm)"


@dataclass(frozen=True)
class ScoredMarks:
    """One read's marks: the LL rating of each lesion (None where not found) and the NL ratings."""

    lesion_ratings: list[float | None]
    nl_ratings: list[float]


def score_marks(marks: list[dict], lesions: list[dict], *, acceptance_radius: float) -> ScoredMarks:
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


def froc_not_applicable(frozen: FrozenMarks) -> str | None:
    """Why the frozen study has no FROC analysis (it collects no marks, or a diseased case has no lesions)."""
    if not frozen.marks_enabled:
        return "the study does not collect lesion marks"
    diseased = [case for case, truth in frozen.truth.items() if truth == 1]
    if not diseased:
        return "no diseased cases"
    without = [case for case in diseased if not frozen.lesions[case]]
    if without:
        return f"{len(without)} diseased case(s) have no lesions in the truth (e.g. {without[0]})"
    return None


def froc_study(frozen: FrozenMarks) -> FrocStudy:
    """The frozen reads as a fully crossed FROC study (arms in analysis order, AI arms first)."""
    treatments = list(dict.fromkeys(arm for arm, _, _ in frozen.marks))
    readers = list(dict.fromkeys(reader for _, reader, _ in frozen.marks))
    read_cases = {case for _, _, case in frozen.marks}
    normal = sorted(case for case in read_cases if frozen.truth[case] == 0)
    diseased = sorted(case for case in read_cases if frozen.truth[case] == 1)
    crossed = len(treatments) * len(readers) * len(read_cases)
    if len(frozen.marks) != crossed:
        raise StudyDataError(f"the FROC analysis needs {FULLY_CROSSED}, as RJafroc's does: {len(frozen.marks)} "
                             f"of the {crossed} reads of {len(readers)} readers x {len(treatments)} arms x "
                             f"{len(read_cases)} cases exist")
    for case in diseased:
        _check_lesions(case, frozen.lesions[case])
    k_of = {case: k for k, case in enumerate(normal + diseased)}
    scored = {(arm, reader, case): score_marks(marks, frozen.lesions[case] if frozen.truth[case] else [],
                                               acceptance_radius=frozen.acceptance_radius)
              for (arm, reader, case), marks in frozen.marks.items()}  # on a non-diseased case every mark is an NL
    max_nl = max((len(s.nl_ratings) for s in scored.values()), default=0) or 1
    max_lesions = max(len(frozen.lesions[case]) for case in diseased)
    nl = np.full((len(treatments), len(readers), len(k_of), max_nl), UNMARKED)
    ll = np.full((len(treatments), len(readers), len(diseased), max_lesions), UNMARKED)
    for (arm, reader, case), marks in scored.items():
        t, r, k = treatments.index(arm), readers.index(reader), k_of[case]
        nl[t, r, k, : len(marks.nl_ratings)] = marks.nl_ratings
        for slot, rating in enumerate(marks.lesion_ratings):
            if rating is not None:
                ll[t, r, k - len(normal), slot] = rating
    lesion_ids = np.zeros((len(diseased), max_lesions), dtype=int)
    weights = np.zeros(lesion_ids.shape)
    for k2, case in enumerate(diseased):
        lesions = frozen.lesions[case]
        lesion_ids[k2, : len(lesions)] = range(1, len(lesions) + 1)
        weights[k2, : len(lesions)] = _weights(lesions)
    return FrocStudy(nl=nl, ll=ll, weights=weights, lesion_ids=lesion_ids, treatments=tuple(treatments),
                     readers=tuple(readers), cases=tuple(normal + diseased), n_normal=len(normal))


def run_froc_study(run: AnalysisRun) -> FrocStudy:
    """The FROC study of a run's marks snapshot (its RJafroc FROC workbook)."""
    return froc_study(parse_marks_snapshot(run.marks_snapshot))


def _check_lesions(case: str, lesions: list) -> None:
    """A lesion is a mapping with a numeric position (and a numeric radius and weight where given)."""
    for number, lesion in enumerate(lesions, 1):
        if not isinstance(lesion, dict) or not all(is_number(lesion.get(key)) for key in ("x", "y")):
            raise StudyDataError(f"lesion {number} of case {case} has no numeric x and y in the truth")
        for key in ("radius", "weight"):
            if lesion.get(key) is not None and not is_number(lesion[key]):
                raise StudyDataError(f"lesion {number} of case {case} has a {key} that is not a number")


def _weights(lesions: list[dict]) -> list[float]:
    given = [float(lesion.get("weight") or 0) for lesion in lesions]
    total = sum(given)
    return [w / total for w in given] if total > 0 else [1 / len(lesions)] * len(lesions)


def froc_section(run: AnalysisRun, snapshot: Snapshot, *, convention: str, alpha: float) -> dict:
    """The run's FROC analysis (wAFROC primary, AFROC, HrAuc; OR, jackknife) of its marks snapshot, or why there
    is none; ``snapshot`` is the run's parsed reads snapshot, which the marks snapshot must match."""
    if run.marks_snapshot is None:
        return {"available": False, "reason": MARKS_NOT_CAPTURED}
    frozen = parse_marks_snapshot(run.marks_snapshot)
    reason = froc_not_applicable(frozen) or _differs_from_reads(frozen, snapshot)
    if reason:
        return {"available": False, "reason": reason}
    try:
        data = froc_study(frozen)
        figures = {fom: froc_result_to_json(analyze_froc(data, fom=fom, convention=convention, alpha=alpha))
                   for fom in FROC_FIGURES}
    except (StudyDataError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return {"available": False, "reason": str(exc)}
    return {
        "available": True,
        "primary_figure": "wafroc",
        "acceptance_radius": frozen.acceptance_radius,
        "design": "fully_crossed",  # the only design the FROC analysis takes (froc_study)
        "n_lesions": data.n_lesions,
        "n_ll": int(np.isfinite(data.ll).sum()),
        "n_nl": int(np.isfinite(data.nl).sum()),
        "figures": figures,
    }


def _differs_from_reads(frozen: FrozenMarks, snapshot: Snapshot) -> str | None:
    """Both snapshots are taken in the transaction that creates the run, by two queries: a read submitted
    or a truth changed between them (an interim run) would make the marks snapshot another set of reads."""
    truth = snapshot.case_truth()
    if set(frozen.marks) != snapshot.reads() or any(frozen.truth.get(case) != t for case, t in truth.items()):
        return ("the marks snapshot does not hold the same reads and truth as the reads snapshot (they changed "
                "while the run was being created); start a new run")
    return None
