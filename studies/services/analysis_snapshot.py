"""The frozen snapshot of an analysis run, parsed into what the analyses use.

A run freezes, in the transaction that creates it, the reads export (``selectors.reads_csv``; parsed by
:func:`parse_snapshot`) and beside it the marks snapshot (:func:`marks_snapshot`; parsed by
:func:`parse_marks_snapshot`), each stored as the exact text its sha256 was taken of. The marks snapshot
holds what FROC scoring (:mod:`studies.services.froc_marks`) reads, as canonical JSON::

    {"acceptance_radius": pixels, "marks_enabled": bool,
     "cases": [{"case", "truth", "lesions": [{"sop_instance_uid", "frame", "x", "y", "radius", "weight"}]}],
     "reads": [{"treatment", "reader", "case", "marks": [{"instance_uid", "frame", "x", "y", "confidence"}]}]}

``cases`` are the cases with truth (by label) and ``reads`` every read of the reads export, in its order;
both are empty where the study collects no marks. Runs made before marks were captured have none.

Where the study declares an intended-use population (:mod:`studies.services.case_mix`), the document
also freezes it with the cases' acquisition attributes, which the reads export does not carry::

    {"case_mix": {"population": {...}, "acquisition": {case label: {"age_band": ..., ...}}}}

It freezes, too, what the subject accountability table and the deviation log of the report are computed from
(:func:`studies.services.accountability.frozen`): every enrolled case's facts and the study's deviations. Cases
excluded from the analysis are in neither ``cases`` nor ``reads``. And how the truth of every analysed case was
established, with the truthing panel's agreement (:func:`studies.services.analysis_reference_standard.frozen`).
"""

import csv
import io
import json
from dataclasses import dataclass

import numpy as np

from mrmc.stats import ReaderStudy, StudyDataError
from studies.errors import RuleViolation
from studies.models import Study
from studies.selectors import READS_CSV_COLUMNS, analysed_cases, study_cases, study_reads
from studies.services import accountability, analysis_reference_standard
from studies.services.audit import canonical_json

MARK_FIELDS = ("instance_uid", "frame", "x", "y", "confidence")  # what scoring reads of a reader's mark
LESION_FIELDS = ("sop_instance_uid", "frame", "x", "y", "radius", "weight")  # and of a lesion in the truth
MARKS_NOT_CAPTURED = "marks were not captured for this run"


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

    def case_truth(self) -> dict[str, int]:
        """Each case's truth, 1 diseased and 0 not."""
        return dict(zip(self.study.cases, self.study.truth.astype(int).tolist(), strict=True))


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



@dataclass(frozen=True)
class FrozenMarks:
    """A run's marks snapshot: ``truth`` and ``lesions`` by case, ``marks`` by (treatment, reader, case) in the
    order of the reads export (arms in analysis order)."""

    acceptance_radius: float
    marks_enabled: bool
    truth: dict[str, int]
    lesions: dict[str, list]
    marks: dict[tuple[str, str, str], list]


def marks_snapshot(study: Study) -> str:
    """The study's marks, the truth's lesions and the FROC acceptance radius as a run freezes them."""
    document = {"acceptance_radius": study.froc_acceptance_radius, "marks_enabled": study.marks_enabled,
                "cases": [], "reads": []}
    if study.marks_enabled:  # a study without marks has nothing to score: no copy of every read
        cases = (analysed_cases(study).filter(truth__isnull=False).order_by("label")
                 .values_list("label", "truth", "lesions"))
        document["cases"] = [{"case": label, "truth": truth, "lesions": [_kept(x, LESION_FIELDS) for x in lesions]}
                             for label, truth, lesions in cases]
        reads = study_reads(study).filter(case__truth__isnull=False, case__excluded_reason="").values_list(
            "arm__name", "reader__code", "case__label", "marks")
        document["reads"] = [{"treatment": arm, "reader": reader, "case": case,
                              "marks": [_kept(mark, MARK_FIELDS) for mark in marks]}
                             for arm, reader, case, marks in reads.iterator(chunk_size=5000)]
    if study.population:
        acquisition = study_cases(study).filter(truth__isnull=False).exclude(acquisition={}).values_list(
            "label", "acquisition")
        document["case_mix"] = {"population": study.population, "acquisition": dict(acquisition)}
    document["accountability"] = accountability.frozen(study)
    document["reference_standard"] = analysis_reference_standard.frozen(study)
    return canonical_json(document).decode()


def frozen_case_mix(text: str | None) -> dict | None:
    """The population and acquisition attributes a run froze (see above); None where it froze none."""
    return json.loads(text).get("case_mix") if text else None


def _kept(item, fields: tuple[str, ...]):
    """The fields scoring reads; an entry that is not a mapping is kept as it is, for the analysis to refuse."""
    return {key: item[key] for key in fields if key in item} if isinstance(item, dict) else item


def parse_marks_snapshot(text: str | None) -> FrozenMarks:
    """The marks snapshot of a run; a run made before marks were captured has none (RuleViolation)."""
    if text is None:
        raise RuleViolation(MARKS_NOT_CAPTURED)
    document = json.loads(text)
    return FrozenMarks(
        acceptance_radius=document["acceptance_radius"],
        marks_enabled=document["marks_enabled"],
        truth={case["case"]: case["truth"] for case in document["cases"]},
        lesions={case["case"]: case["lesions"] for case in document["cases"]},
        marks={(read["treatment"], read["reader"], read["case"]): read["marks"] for read in document["reads"]},
    )
