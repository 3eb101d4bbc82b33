"""The frozen reads snapshot of an analysis run, parsed into the arrays the analyses use."""

import csv
import io
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

    def reads(self) -> set[tuple[str, str, str]]:
        """The reads that exist, as (treatment, reader, case) labels."""
        data = self.study
        return {(data.treatments[t], data.readers[r], data.cases[c]) for t, r, c in np.argwhere(data.read_mask)}


def parse_snapshot(text: str) -> Snapshot:
    """Arrays from a reads export, a read that does not exist being NaN."""
    rows = list(csv.DictReader(io.StringIO(text)))
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
    return Snapshot(study, decisions, seconds, metadata, len(rows))

