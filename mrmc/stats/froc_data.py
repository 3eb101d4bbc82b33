"""Free-response (FROC) reader-study data: marks and lesion truth.

The long FROC format is two CSV files:

- ``truth.csv``: ``case,truth,lesion_id,weight``; one row per non-diseased case
  (``lesion_id`` 0, weight 0) and one per lesion of a diseased case (``lesion_id`` 1, 2, ...;
  wAFROC weights summing to 1 within the case). It defines the case list: every reader
  reads every case in every treatment.
- ``marks.csv``: ``reader,treatment,case,truth,mark_rating,lesion_id``; one row per mark.
  ``truth`` repeats the case's number of lesions, ``lesion_id`` 0 is a non-lesion
  localization (any number per case), k >= 1 the mark on lesion k (at most one per
  lesion, reader and treatment). Unmarked lesions and cases have no row.

Ratings are held as RJafroc holds them: NL ratings ``nl[treatment, reader, case, slot]`` and
LL ratings ``ll[treatment, reader, diseased case, lesion]``, with -inf where there is no mark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import StudyDataError, csv_records

TRUTH_COLUMNS = ("case", "truth", "lesion_id", "weight")
MARK_COLUMNS = ("reader", "treatment", "case", "truth", "mark_rating", "lesion_id")
WEIGHT_TOLERANCE = 1e-6
UNMARKED = -np.inf


@dataclass(frozen=True, eq=False)
class FrocStudy:
    """A fully crossed FROC study.

    Attributes
    ----------
    nl : ndarray, shape (T, R, n_cases, max NL marks)
        Non-lesion localization ratings on every case (-inf: no mark).
    ll : ndarray, shape (T, R, n_diseased, max lesions)
        Lesion localization ratings (-inf: lesion not marked, or no such lesion).
    weights : ndarray, shape (n_diseased, max lesions)
        wAFROC lesion weights; 0 where a case has fewer lesions.
    lesion_ids : ndarray of int, shape (n_diseased, max lesions)
        The truth file's lesion ids; 0 where a case has fewer lesions.
    cases : tuple of str
        Non-diseased cases first, then diseased cases (the order of ``ll``), each class
        in the truth file's order.
    """

    nl: np.ndarray
    ll: np.ndarray
    weights: np.ndarray
    lesion_ids: np.ndarray
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    n_normal: int

    @property
    def n_diseased(self) -> int:
        return len(self.cases) - self.n_normal

    @property
    def lesion_mask(self) -> np.ndarray:
        """True where (diseased case, lesion slot) is a real lesion."""
        return self.lesion_ids > 0

    @property
    def n_lesions(self) -> int:
        return int(np.count_nonzero(self.lesion_mask))


@dataclass(frozen=True)
class _Truth:
    normal: list[str]
    diseased: list[str]
    lesions: dict[str, list[tuple[int, float]]]  # diseased case -> [(lesion id, weight)] in file order


def read_froc_csv(marks_path: str | Path, truth_path: str | Path) -> FrocStudy:
    """Read the long FROC format (see the module docstring).

    Raises
    ------
    StudyDataError
        Naming the file, the line and the problem (a missing column, a lesion not in
        the truth, two marks on one lesion, weights not summing to 1, ...).
    """
    truth = _read_truth(truth_path)
    return _read_marks(marks_path, truth)


def _text(row: dict[str, str], field: str, where: str) -> str:
    value = (row.get(field) or "").strip()
    if not value:
        raise StudyDataError(f"{where}: field {field!r} is empty")
    return value


def _integer(row: dict[str, str], field: str, where: str) -> int:
    text = _text(row, field, where)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not number.is_integer() or number < 0:
        raise StudyDataError(f"{where}: field {field!r} is {text!r}; expected a whole number >= 0")
    return int(number)


def _number(row: dict[str, str], field: str, where: str) -> float:
    text = _text(row, field, where)
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise StudyDataError(f"{where}: field {field!r} is {text!r}; expected a finite number")
    return number


def _read_truth(path: str | Path) -> _Truth:
    normal: list[str] = []
    lesions: dict[str, list[tuple[int, float]]] = {}
    declared: dict[str, tuple[int, str]] = {}
    for where, row in csv_records(path, TRUTH_COLUMNS, file_in_place=True):
        case = _text(row, "case", where)
        count, lesion, weight = (
            _integer(row, "truth", where),
            _integer(row, "lesion_id", where),
            _number(row, "weight", where),
        )
        first = declared.setdefault(case, (count, where))
        if first[0] != count:
            raise StudyDataError(f"{where}: case {case!r} has truth {count} but truth {first[0]} on {first[1]}")
        if (count == 0) != (lesion == 0):
            raise StudyDataError(
                f"{where}: case {case!r} with truth {count} has lesion_id {lesion}; lesion_id 0 is for "
                "non-diseased cases (truth 0) only"
            )
        if count == 0:
            if case in normal:
                raise StudyDataError(f"{where}: non-diseased case {case!r} is listed twice")
            if weight != 0:
                raise StudyDataError(f"{where}: non-diseased case {case!r} has weight {weight}; expected 0")
            normal.append(case)
            continue
        if weight < 0:
            raise StudyDataError(f"{where}: lesion {lesion} of case {case!r} has negative weight {weight}")
        case_lesions = lesions.setdefault(case, [])
        if any(known == lesion for known, _ in case_lesions):
            raise StudyDataError(f"{where}: lesion {lesion} of case {case!r} is listed twice")
        case_lesions.append((lesion, weight))
    _check_lesion_counts(declared, lesions)
    if not normal or not lesions:
        raise StudyDataError(f"{path}: FROC analysis needs non-diseased and diseased cases")
    return _Truth(normal=normal, diseased=list(lesions), lesions=lesions)


def _check_lesion_counts(declared: dict[str, tuple[int, str]], lesions: dict[str, list[tuple[int, float]]]) -> None:
    """Each diseased case's lesion rows against its truth and weights; errors name its first row."""
    for case, case_lesions in lesions.items():
        count, where = declared[case]
        if len(case_lesions) != count:
            raise StudyDataError(f"{where}: case {case!r} has truth {count} but {len(case_lesions)} lesion row(s)")
        total = sum(weight for _, weight in case_lesions)
        if abs(total - 1) > WEIGHT_TOLERANCE:
            raise StudyDataError(f"{where}: the lesion weights of case {case!r} sum to {total:.10g}, not 1")


def _read_marks(path: str | Path, truth: _Truth) -> FrocStudy:
    cases = truth.normal + truth.diseased
    case_index = {case: k for k, case in enumerate(cases)}
    slot_of = {
        (case, lesion): (k2, slot)
        for k2, case in enumerate(truth.diseased)
        for slot, (lesion, _) in enumerate(truth.lesions[case])
    }
    treatments: dict[str, int] = {}
    readers: dict[str, int] = {}
    nl_marks: dict[tuple[int, int, int], list[float]] = {}
    ll_marks: dict[tuple[int, int, int, int], tuple[float, str]] = {}  # rating and where it was read
    for where, row in csv_records(path, MARK_COLUMNS, file_in_place=True):
        reader, treatment, case = (_text(row, field, where) for field in ("reader", "treatment", "case"))
        count, lesion = _integer(row, "truth", where), _integer(row, "lesion_id", where)
        rating = _number(row, "mark_rating", where)
        if case not in case_index:
            raise StudyDataError(f"{where}: case {case!r} is not in the truth file")
        expected = len(truth.lesions.get(case, ()))
        if count != expected:
            raise StudyDataError(f"{where}: case {case!r} has truth {count} here but {expected} in the truth file")
        t = treatments.setdefault(treatment, len(treatments))
        r = readers.setdefault(reader, len(readers))
        if lesion == 0:
            nl_marks.setdefault((t, r, case_index[case]), []).append(rating)
            continue
        if (case, lesion) not in slot_of:
            raise StudyDataError(f"{where}: lesion {lesion} of case {case!r} is not in the truth file")
        key = (t, r, *slot_of[case, lesion])
        if key in ll_marks:
            raise StudyDataError(
                f"{where}: reader {reader!r} marked lesion {lesion} of case {case!r} in treatment {treatment!r} "
                f"twice (first: {ll_marks[key][1]}); keep only the highest-rated mark"
            )
        ll_marks[key] = (rating, where)
    if not treatments:
        raise StudyDataError(f"{path}: no marks")
    shape = (len(treatments), len(readers))
    nl = np.full((*shape, len(cases), max(map(len, nl_marks.values()), default=1)), UNMARKED)
    for (t, r, k), ratings in nl_marks.items():
        nl[t, r, k, : len(ratings)] = ratings
    max_lesions = max(len(case_lesions) for case_lesions in truth.lesions.values())
    ll = np.full((*shape, len(truth.diseased), max_lesions), UNMARKED)
    for key, (rating, _) in ll_marks.items():
        ll[key] = rating
    lesion_ids = np.zeros((len(truth.diseased), max_lesions), dtype=int)
    weights = np.zeros(lesion_ids.shape)
    for k2, case in enumerate(truth.diseased):
        for slot, (lesion, weight) in enumerate(truth.lesions[case]):
            lesion_ids[k2, slot], weights[k2, slot] = lesion, weight
    return FrocStudy(
        nl=nl,
        ll=ll,
        weights=weights,
        lesion_ids=lesion_ids,
        treatments=tuple(treatments),
        readers=tuple(readers),
        cases=tuple(cases),
        n_normal=len(truth.normal),
    )
