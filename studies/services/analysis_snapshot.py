"""The frozen reads snapshot of an analysis run, parsed into the arrays the analyses use."""

import csv
import io
from collections import Counter
from dataclasses import dataclass

import numpy as np

from mrmc.stats import ReaderStudy, StudyDataError
from studies.errors import RuleViolation
from studies.selectors import READS_CSV_COLUMNS


@dataclass(frozen=True)
class Snapshot:
    """The reads snapshot as arrays, NaN where a read does not exist (every read that exists is kept);
    ``decisions`` and ``seconds`` are also NaN where not given."""

    study: ReaderStudy
    decisions: np.ndarray
    seconds: np.ndarray
    case_metadata: dict[str, list[str]]
    n_reads: int
    dropped_cases: int

    def reads(self) -> set[tuple[str, str, str]]:
        """The reads that exist, as (treatment, reader, case) labels."""
        data = self.study
        return {(data.treatments[t], data.readers[r], data.cases[c]) for t, r, c in np.argwhere(data.read_mask)}


def parse_snapshot(text: str, *, complete_cases_only: bool = False) -> Snapshot:
    """Arrays from a reads export, a read that does not exist being NaN; with ``complete_cases_only``
    cases not read by every reader in every arm are left out (and counted in ``dropped_cases``)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    dropped = 0
    if complete_cases_only:
        rows, dropped = _complete_cases(rows)
    try:
        study = ReaderStudy.from_rows(rows)
    except StudyDataError as exc:
        raise RuleViolation(f"the reads cannot be analysed: {exc}") from exc
    index = {label: i for i, label in enumerate(study.treatments)}, {label: i for i, label in enumerate(study.readers)}
    cases = {label: i for i, label in enumerate(study.cases)}
    decisions = np.full(study.ratings.shape, np.nan)
    seconds = np.full(study.ratings.shape, np.nan)
    metadata_names = [name for name in rows[0] if name not in READS_CSV_COLUMNS]
    metadata = {name: [""] * len(study.cases) for name in metadata_names}
    for row in rows:
        cell = index[0][row["treatment"]], index[1][row["reader"]], cases[row["case"]]
        decisions[cell] = float(row["decision"]) if row["decision"] else np.nan
        seconds[cell] = float(row["duration_ms"]) / 1000 if row["duration_ms"] else np.nan
        for name in metadata_names:
            metadata[name][cell[2]] = row[name]
    return Snapshot(study, decisions, seconds, metadata, len(rows), dropped)


def _complete_cases(rows: list[dict]) -> tuple[list[dict], int]:
    per_case = Counter(row["case"] for row in rows)
    cells = len({row["reader"] for row in rows}) * len({row["treatment"] for row in rows})
    complete = {case for case, count in per_case.items() if count == cells}
    return [row for row in rows if row["case"] in complete], len(per_case) - len(complete)
