"""Reader-study data written in the input formats of other MRMC software.

- MRMCaov (R): a data frame with columns reader, treatment, case, truth, rating.
- iMRMC (FDA, Gallas): a text file with a header (NR, N0, N1, NM), ``BEGIN DATA:`` and
  ``reader,case,modality,score`` rows, truth given as rows of reader -1, modality 0.
- RJafroc (Chakraborty): the JAFROC Excel workbook of an ROC or FROC study (sheets Truth, FP, TP).

Every export keeps the study's treatment order, so that each program's "first minus second"
difference is the study's: MRMCaov (R's ``factor``) and RJafroc 1.x sort treatment names
alphabetically, so names that would sort otherwise carry their position
(:func:`names_in_given_order`); iMRMC and RJafroc 2.x take the order in which they are listed.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from .data import ReaderStudy, StudyDataError
from .froc_data import FrocStudy

IMRMC_TRUTH_READER = -1
IMRMC_TRUTH_MODALITY = 0
_SORTS_THE_SAME_EVERYWHERE = re.compile(r"[a-z0-9]+")  # no case or punctuation for a locale's collation to weigh
_IMRMC_HEADER_UNSAFE = re.compile(r"[:\x00-\x1f\x7f]")  # a colon could spell NR:/N0:/N1:/NM:/BEGIN DATA:


def names_in_given_order(labels: tuple[str, ...]) -> list[str]:
    """``labels`` as names whose alphabetical order, in any locale, is their given order.

    Labels of lowercase letters and digits already in that order stay as they are; otherwise each
    gets its zero-padded position as prefix (``1_unaided``, ``2_aided``), which R's ``sort`` and
    ``factor`` order by its leading digits whatever the locale.
    """
    if all(_SORTS_THE_SAME_EVERYWHERE.fullmatch(label) for label in labels) and list(labels) == sorted(set(labels)):
        return list(labels)
    width = len(str(len(labels)))
    return [f"{position:0{width}d}_{label}" for position, label in enumerate(labels, start=1)]


def _imrmc_header_text(text: str) -> str:
    """Free text that iMRMC's header scan cannot take for a count or the start of the data.

    iMRMC reads every header line, upper-cased, for ``NR:``, ``N0:``, ``N1:`` and ``NM:`` anywhere in
    it, and RJafroc's reader splits header lines at colons: colons and line breaks become blanks.
    """
    return _IMRMC_HEADER_UNSAFE.sub(" ", text).strip()


def mrmcaov_csv(study: ReaderStudy) -> str:
    """Long CSV as MRMCaov's ``mrmc(rating, truth, treatment, reader, case, data)`` expects it.

    Treatment names sort in the study's order (:func:`names_in_given_order`), so MRMCaov's
    differences are the study's first treatment minus its second.

    References
    ----------
    Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software
    for diagnostic performance comparison of imaging modalities. Proc SPIE 11316.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["reader", "treatment", "case", "truth", "rating"])
    treatments = names_in_given_order(study.treatments)
    for t, r, c in np.argwhere(study.read_mask):  # the reads that exist: MRMCaov finds the design from them
        writer.writerow([study.readers[r], treatments[t], study.cases[c], int(study.truth[c]),
                         repr(float(study.ratings[t, r, c]))])
    return out.getvalue()


def imrmc_text(study: ReaderStudy, *, description: str = "") -> str:
    """The iMRMC input file; readers, cases and modalities are numbered from 1 in label order.

    Integer IDs keep the file readable by every iMRMC reader (RJafroc's ``ReadImrmc``
    requires integer case IDs); the header lines before ``NR:`` map them to our labels
    (``modality 1 = aided``). No label can break the header: colons and line breaks in the
    description and labels become blanks (:func:`_imrmc_header_text`).

    References
    ----------
    Gallas BD. iMRMC: software to do multi-reader multi-case statistical analysis of
    reader studies, input file format (github.com/DIDSR/iMRMC, "Input file format").
    """
    lines = [_imrmc_header_text(description) or "MRMC reader study exported for iMRMC"]
    for kind, labels in (("modality", study.treatments), ("reader", study.readers), ("case", study.cases)):
        lines += [f"{kind} {number} = {_imrmc_header_text(label)}" for number, label in enumerate(labels, start=1)]
    lines += [
        "",
        f"NR: {len(study.readers)}",
        f"N0: {study.n_normal}",
        f"N1: {study.n_abnormal}",
        f"NM: {len(study.treatments)}",
        "",
        "BEGIN DATA:",
    ]
    lines += [
        f"{IMRMC_TRUTH_READER},{c},{IMRMC_TRUTH_MODALITY},{int(truth)}" for c, truth in enumerate(study.truth, start=1)
    ]
    lines += [f"{r + 1},{c + 1},{t + 1},{float(study.ratings[t, r, c])!r}" for t, r, c in np.argwhere(study.read_mask)]
    return "\n".join(lines) + "\n"


def rjafroc_workbook(study: ReaderStudy) -> bytes:
    """RJafroc's JAFROC-format Excel workbook for an ROC study (``DfReadDataFile(file)``).

    Notes
    -----
    Sheet Truth lists each case once: non-diseased with LesionID 0 and weight 0, diseased
    with LesionID 1 and weight 1, plus the reader and modality IDs and the paradigm
    ("ROC", "crossed") in the first rows. Sheet FP holds the ratings of non-diseased cases,
    sheet TP those of diseased cases. Cases are numbered from 1 as in :func:`imrmc_text`;
    readers and modalities keep their names where RJafroc reads them back (:func:`_jafroc_ids`),
    modalities named so that they sort in the study's order (:func:`names_in_given_order`).

    References
    ----------
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging.
    CRC Press, chapter "Data format" (RJafroc's JAFROC Excel format).
    """
    missing = int(np.count_nonzero(np.isnan(study.ratings)))
    if missing:  # an absent row means "not marked" (the lowest rating) there, not "not read"
        raise StudyDataError(f"the RJafroc ROC workbook holds fully crossed studies only; {missing} reads do not exist")
    readers, modalities = _jafroc_ids(study.readers), _jafroc_ids(tuple(names_in_given_order(study.treatments)))
    truth_rows = [(c, int(diseased), int(diseased)) for c, diseased in enumerate(study.truth, start=1)]
    false_pos, true_pos = [], []
    for t, modality in enumerate(modalities):
        for r, reader in enumerate(readers):
            for c, diseased in enumerate(study.truth):
                rating = float(study.ratings[t, r, c])
                if diseased:
                    true_pos.append((reader, modality, c + 1, 1, rating))
                else:
                    false_pos.append((reader, modality, c + 1, rating))
    return _jafroc_workbook("ROC", readers, modalities, truth_rows, false_pos, true_pos)


def rjafroc_froc_workbook(study: FrocStudy) -> bytes:
    """RJafroc's JAFROC-format Excel workbook for a FROC study (``DfReadDataFile(file, newExcelFileFormat = TRUE)``).

    Notes
    -----
    Sheet Truth has one row per non-diseased case (LesionID 0, weight 0) and one per lesion
    (the truth file's lesion ids and wAFROC weights); sheet FP one row per non-lesion
    localization (``FP_Rating``), sheet TP one per lesion localization (``TP_Rating``).
    Cases are numbered from 1 (non-diseased first), since RJafroc requires integer case
    IDs; readers and modalities keep their names where RJafroc can read them back
    (no comma, no blank), otherwise they are numbered from 1; modalities are named so that
    they sort in the study's order (:func:`names_in_given_order`). The sheets are
    named FP and TP, not NL and LL: RJafroc's reader checks the sorted sheet names and
    refuses the pair NL + LL ("LL" sorts first).

    References
    ----------
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press.
    """
    readers, modalities = _jafroc_ids(study.readers), _jafroc_ids(tuple(names_in_given_order(study.treatments)))
    truth_rows = [(k, 0, 0) for k in range(1, study.n_normal + 1)]
    truth_rows += [
        (study.n_normal + k2 + 1, int(lesion), float(weight))
        for k2, (lesions, weights) in enumerate(zip(study.lesion_ids, study.weights, strict=True))
        for lesion, weight in zip(lesions, weights, strict=True)
        if lesion > 0
    ]
    false_pos = [
        (readers[r], modalities[t], k + 1, float(study.nl[t, r, k, slot]))
        for t, r, k, slot in np.argwhere(np.isfinite(study.nl))
    ]
    true_pos = [
        (
            readers[r],
            modalities[t],
            study.n_normal + k2 + 1,
            int(study.lesion_ids[k2, slot]),
            float(study.ll[t, r, k2, slot]),
        )
        for t, r, k2, slot in np.argwhere(np.isfinite(study.ll))
    ]
    return _jafroc_workbook("FROC", readers, modalities, truth_rows, false_pos, true_pos)


def _jafroc_ids(labels: tuple[str, ...]) -> list[str] | list[int]:
    """The labels where RJafroc reads them back unchanged (RJafroc 2 splits ID lists at commas and blanks)."""
    readable = all(label and not re.search(r"[,\s]", label) for label in labels)
    return list(labels) if readable and len(set(labels)) == len(labels) else list(range(1, len(labels) + 1))


def _jafroc_workbook(
    paradigm: str,
    readers: list,
    modalities: list,
    truth_rows: list[tuple[int, int, float]],
    false_pos: list[tuple],
    true_pos: list[tuple],
) -> bytes:
    """The three sheets of RJafroc's new Excel format; every case is read by every reader in every modality."""
    from openpyxl import Workbook

    book = Workbook()
    truth_sheet = book.active
    truth_sheet.title = "Truth"
    truth_sheet.append(["CaseID", "LesionID", "Weight", "ReaderID", "ModalityID", "Paradigm"])
    reader_ids = ", ".join(map(str, readers))
    modality_ids = ", ".join(map(str, modalities))
    design = [paradigm, "crossed"]
    for row, (case, lesion, weight) in enumerate(truth_rows):
        truth_sheet.append([case, lesion, weight, reader_ids, modality_ids, design[row] if row < len(design) else None])
    false_pos_sheet = book.create_sheet("FP")
    false_pos_sheet.append(["ReaderID", "ModalityID", "CaseID", "FP_Rating"])
    for row in false_pos:
        false_pos_sheet.append(list(row))
    true_pos_sheet = book.create_sheet("TP")
    true_pos_sheet.append(["ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating"])
    for row in true_pos:
        true_pos_sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
