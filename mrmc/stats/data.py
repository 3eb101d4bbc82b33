"""Reader-study data: a long table of reads turned into a ratings array.

A reader study is held as ``ratings[treatment, reader, case]`` with ``truth[case]``
(True = diseased) and NaN where a read does not exist (split-plot designs, missing
reads; see :mod:`mrmc.stats.designs`). Labels keep the order in which they first
appear in the input.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REQUIRED_COLUMNS = ("reader", "treatment", "case", "truth", "rating")
# A row that gives a reason here is of a case excluded from the analysis (a reads export keeps it): skipped.
EXCLUDED_COLUMN = "excluded_reason"


class StudyDataError(ValueError):
    """Input that cannot be analysed; the message names the offending row, reader or case."""


@dataclass(frozen=True, eq=False)
class ReaderStudy:
    """A reader study, fully crossed or not.

    Attributes
    ----------
    ratings : ndarray, shape (n_treatments, n_readers, n_cases)
        Higher rating = more confident the case is diseased; NaN where the reader did
        not read the case in that treatment.
    truth : ndarray of bool, shape (n_cases,)
        True for diseased (abnormal) cases.
    treatments, readers, cases : tuple of str
        Labels in order of first appearance.
    """

    ratings: np.ndarray
    truth: np.ndarray
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]

    def __post_init__(self) -> None:
        validate_ratings(self.ratings, self.truth)
        expected = (len(self.treatments), len(self.readers), len(self.cases))
        if self.ratings.shape != expected:
            raise StudyDataError(f"ratings have shape {self.ratings.shape} but the labels give {expected}")

    @property
    def read_mask(self) -> np.ndarray:
        """True where a read exists, shaped like ``ratings``."""
        return ~np.isnan(self.ratings)

    @property
    def n_normal(self) -> int:
        return int(np.count_nonzero(~self.truth))

    @property
    def n_abnormal(self) -> int:
        return int(np.count_nonzero(self.truth))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, object] | Sequence[object]]) -> ReaderStudy:
        """Build a study from long-table rows.

        Parameters
        ----------
        rows : iterable
            Each row is a mapping with keys ``reader, treatment, case, truth, rating``
            (other keys ignored; a row with a non-empty ``excluded_reason`` is skipped)
            or a sequence in that order. Labels are converted with ``str``; truth must
            be 0 or 1; rating must be a finite number.

        Raises
        ------
        StudyDataError
            Naming the row (1-based), field, reader and case at fault.
        """
        return _build_study((f"row {number}", _as_mapping(row)) for number, row in enumerate(rows, start=1))


def read_long_csv(path: str | Path) -> ReaderStudy:
    """Read a CSV with columns ``reader,treatment,case,truth,rating`` (extra columns ignored, and rows with a
    non-empty ``excluded_reason`` skipped).

    Raises
    ------
    StudyDataError
        If a column is missing or a line holds a bad value (the message names the line).
    """
    return _build_study(csv_records(path, REQUIRED_COLUMNS))


def csv_records(path: str | Path, columns: Sequence[str], *, file_in_place: bool = False
                ) -> Iterator[tuple[str, Mapping[str, str]]]:
    """``(where, row)`` for each row of a CSV file that has ``columns`` (header names stripped);
    ``where`` is "line N", or "PATH, line N" with ``file_in_place``."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [column for column in columns if column not in header]
        if missing:
            raise StudyDataError(
                f"{path}: missing column(s) {', '.join(missing)}; "
                f"expected {','.join(columns)}, found {','.join(header) or 'no header'}"
            )
        reader.fieldnames = header
        prefix = f"{path}, " if file_in_place else ""
        for row in reader:
            yield f"{prefix}line {reader.line_num}", row


def validate_ratings(ratings: np.ndarray, truth: np.ndarray) -> None:
    """Check shapes, that ratings are finite or NaN (no read) and that both truth classes are present."""
    if ratings.ndim != 3:
        raise StudyDataError("ratings must be shaped (treatment, reader, case)")
    if truth.shape != ratings.shape[-1:]:
        raise StudyDataError(
            f"truth has {truth.shape[0] if truth.ndim == 1 else truth.shape} entries "
            f"but there are {ratings.shape[-1]} cases"
        )
    if truth.dtype != bool:
        raise StudyDataError("truth must be boolean (True = diseased)")
    if np.isinf(ratings).any():
        raise StudyDataError("ratings contain infinite values")
    if ratings.size and np.isnan(ratings).all():
        raise StudyDataError("no reads: every rating is NaN (NaN marks a read that does not exist)")
    if not truth.any():
        raise StudyDataError("no diseased cases (truth = 1): the ROC analysis needs both classes")
    if truth.all():
        raise StudyDataError("no non-diseased cases (truth = 0): the ROC analysis needs both classes")


def _as_mapping(row: Mapping[str, object] | Sequence[object]) -> Mapping[str, object]:
    if isinstance(row, Mapping):
        return row
    return dict(zip(REQUIRED_COLUMNS, row, strict=False))


def _build_study(records: Iterable[tuple[str, Mapping[str, object]]]) -> ReaderStudy:
    treatments: dict[str, int] = {}
    readers: dict[str, int] = {}
    cases: dict[str, int] = {}
    case_truth: dict[str, tuple[bool, str]] = {}
    cells: dict[tuple[int, int, int], float] = {}
    for where, row in records:
        if row.get(EXCLUDED_COLUMN):
            continue  # a case excluded from the analysis, kept in the export with the reason
        reader, treatment, case = (_label(row, field, where) for field in ("reader", "treatment", "case"))
        truth = _truth(row, where, reader, case)
        rating = _rating(row, where, reader, case)
        first = case_truth.setdefault(case, (truth, where))
        if first[0] != truth:
            raise StudyDataError(
                f"{where}: case {case!r} has truth {int(truth)} but truth {int(first[0])} on {first[1]}"
            )
        key = (
            treatments.setdefault(treatment, len(treatments)),
            readers.setdefault(reader, len(readers)),
            cases.setdefault(case, len(cases)),
        )
        if key in cells:
            raise StudyDataError(f"{where}: reader {reader!r} rated case {case!r} in treatment {treatment!r} twice")
        cells[key] = rating
    if not cells:
        raise StudyDataError("no reads: the table is empty")
    shape = (len(treatments), len(readers), len(cases))
    ratings = np.full(shape, np.nan)
    index = np.array(list(cells), dtype=np.intp).T
    ratings[tuple(index)] = list(cells.values())
    return ReaderStudy(
        ratings=ratings,
        truth=np.array([case_truth[case][0] for case in cases]),
        treatments=tuple(treatments),
        readers=tuple(readers),
        cases=tuple(cases),
    )


def _field(row: Mapping[str, object], field: str, where: str) -> object:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise StudyDataError(f"{where}: field {field!r} is empty")
    return value


def _label(row: Mapping[str, object], field: str, where: str) -> str:
    return str(_field(row, field, where)).strip()


def _truth(row: Mapping[str, object], where: str, reader: str, case: str) -> bool:
    value = _field(row, "truth", where)
    text = str(value).strip()
    if text in ("0", "1", "0.0", "1.0", "False", "True"):
        return text in ("1", "1.0", "True")
    raise StudyDataError(f"{where}: field 'truth' for reader {reader!r}, case {case!r} is {text!r}; expected 0 or 1")


def _rating(row: Mapping[str, object], where: str, reader: str, case: str) -> float:
    value = _field(row, "rating", where)
    try:
        rating = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rating = math.nan
    if not math.isfinite(rating):
        raise StudyDataError(
            f"{where}: field 'rating' for reader {reader!r}, case {case!r} is {value!r}; expected a finite number"
        )
    return rating
