"""Which reads a reader study holds: its design, and the reads it lacks.

A study is held as ``ratings[treatment, reader, case]`` with NaN where a read does not
exist. Readers who share a case belong to one *block*: the block's cases are every case
any of its readers read. The design follows from the blocks and the reads within them:

- ``fully_crossed``: one block, every reader reads every case in every treatment;
- ``split_plot``: two or more reader groups, each reading its own block of cases in
  every treatment and nothing else (Obuchowski, Gallas & Hillis 2012; Hillis 2014);
- ``partially_paired``: anything else; the reads *missing* are those of a reader's own
  block that the reader did not give in some treatment.

References
----------
Obuchowski NA, Gallas BD, Hillis SL (2012). Multi-reader ROC studies with split-plot
designs: a comparison of statistical methods. Academic Radiology 19:1508-1517.
Hillis SL (2014). A marginal-mean ANOVA approach for analyzing multireader multicase
radiological imaging data. Statistics in Medicine 33:330-360.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import connected_components

from .data import StudyDataError

DESIGN_KINDS = ("fully_crossed", "split_plot", "partially_paired")
DESIGN_LABELS = {
    "fully_crossed": "fully crossed",
    "split_plot": "split-plot",
    "partially_paired": "partially paired (missing reads)",
}
# missing reads named one by one in the design (all are counted)
MISSING_LISTED = 50


@dataclass(frozen=True)
class ReaderBlock:
    """Readers who share cases, and the cases any of them read."""

    readers: tuple[str, ...]
    n_normal: int
    n_abnormal: int


@dataclass(frozen=True)
class CellReads:
    """How many reads a reader gave in a treatment, and how many of the block's cases it lacks."""

    treatment: str
    reader: str
    n_reads: int
    n_missing: int


@dataclass(frozen=True)
class StudyDesign:
    """The design found in the reads (see the module docstring).

    ``missing`` names up to :data:`MISSING_LISTED` missing reads as (treatment, reader,
    case); ``n_missing`` counts them all, ``cells`` per treatment and reader.
    """

    kind: str
    blocks: tuple[ReaderBlock, ...]
    cells: tuple[CellReads, ...]
    n_reads: int
    n_missing: int
    missing: tuple[tuple[str, str, str], ...]

    @property
    def label(self) -> str:
        return DESIGN_LABELS[self.kind]

    @property
    def fully_crossed(self) -> bool:
        return self.kind == "fully_crossed"


def reader_blocks(read: np.ndarray) -> np.ndarray:
    """Block number of each reader: readers are joined when they read a common case."""
    by_reader = read.any(axis=0).astype(np.int32)
    _, labels = connected_components(by_reader @ by_reader.T > 0, directed=False)
    return labels


def detect_design(
    read: np.ndarray,
    truth: np.ndarray,
    treatments: tuple[str, ...],
    readers: tuple[str, ...],
    cases: tuple[str, ...],
) -> StudyDesign:
    """The design of a study whose existing reads are ``read[treatment, reader, case]``.

    Raises
    ------
    StudyDataError
        If a case has no read, or a reader has too few reads of a truth class in a
        treatment for a figure of merit and its jackknife (two of each).
    """
    unread = np.flatnonzero(~read.any(axis=(0, 1)))
    if unread.size:
        raise StudyDataError(f"case {cases[unread[0]]!r} has no read (all its ratings are NaN)")
    _require_both_classes(read, truth, treatments, readers)
    labels = reader_blocks(read)
    block_cases = np.zeros((labels.max() + 1, truth.size), dtype=bool)
    np.logical_or.at(block_cases, labels, read.any(axis=0))
    expected = block_cases[labels][None, :, :]
    absent = expected & ~read
    blocks = tuple(
        ReaderBlock(
            readers=tuple(readers[r] for r in np.flatnonzero(labels == block)),
            n_normal=int(np.count_nonzero(members & ~truth)),
            n_abnormal=int(np.count_nonzero(members & truth)),
        )
        for block, members in enumerate(block_cases)
    )
    n_missing = int(np.count_nonzero(absent))
    if n_missing:
        kind = "partially_paired"
    else:
        kind = "fully_crossed" if len(blocks) == 1 else "split_plot"
    reads, lacking = read.sum(axis=2), absent.sum(axis=2)
    return StudyDesign(
        kind=kind,
        blocks=blocks,
        cells=tuple(
            CellReads(treatment, reader, int(reads[t, r]), int(lacking[t, r]))
            for t, treatment in enumerate(treatments)
            for r, reader in enumerate(readers)
        ),
        n_reads=int(np.count_nonzero(read)),
        n_missing=n_missing,
        missing=tuple((treatments[t], readers[r], cases[c]) for t, r, c in np.argwhere(absent)[:MISSING_LISTED]),
    )


def _require_both_classes(read: np.ndarray, truth: np.ndarray, treatments, readers) -> None:
    for counts, what in ((read[..., ~truth].sum(axis=2), "non-diseased"), (read[..., truth].sum(axis=2), "diseased")):
        short = np.argwhere(counts < 2)
        if short.size:
            t, r = short[0]
            raise StudyDataError(
                f"reader {readers[r]!r} has {counts[t, r]} {what} read(s) in treatment {treatments[t]!r} "
                "(ratings not NaN); each reader needs at least 2 of each class in every treatment"
            )
