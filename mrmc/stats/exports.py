"""Reader-study data written in the input formats of other MRMC software.

- MRMCaov (R): a data frame with columns reader, treatment, case, truth, rating.
- iMRMC (FDA, Gallas): a text file with a header (NR, N0, N1, NM), ``BEGIN DATA:`` and
  ``reader,case,modality,score`` rows, truth given as rows of reader -1, modality 0.
- RJafroc (Chakraborty): the JAFROC Excel workbook of an ROC or FROC study (sheets Truth, FP, TP).
"""

from __future__ import annotations

import csv
import io

import numpy as np

from .data import ReaderStudy
from .froc_data import FrocStudy

IMRMC_TRUTH_READER = -1
IMRMC_TRUTH_MODALITY = 0


def mrmcaov_csv(study: ReaderStudy) -> str:
    """Long CSV as MRMCaov's ``mrmc(rating, truth, treatment, reader, case, data)`` expects it.

    References
    ----------
    Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software
    for diagnostic performance comparison of imaging modalities. Proc SPIE 11316.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["reader", "treatment", "case", "truth", "rating"])
    for t, treatment in enumerate(study.treatments):
        for r, reader in enumerate(study.readers):
            for c, case in enumerate(study.cases):
                writer.writerow([reader, treatment, case, int(study.truth[c]), repr(float(study.ratings[t, r, c]))])
    return out.getvalue()


def imrmc_text(study: ReaderStudy, *, description: str = "") -> str:
    """The iMRMC input file; readers, cases and modalities are numbered from 1 in label order.

    Integer IDs keep the file readable by every iMRMC reader (RJafroc's ``ReadImrmc``
    requires integer case IDs); the header lines before ``NR:`` map them to our labels.

    References
    ----------
    Gallas BD. iMRMC: software to do multi-reader multi-case statistical analysis of
    reader studies, input file format (github.com/DIDSR/iMRMC, "Input file format").
    """
    lines = [description or "MRMC reader study exported for iMRMC"]
    lines += [f"modality {m}: {name}" for m, name in enumerate(study.treatments, start=1)]
    lines += [f"reader {r}: {name}" for r, name in enumerate(study.readers, start=1)]
    lines += [f"case {c}: {name}" for c, name in enumerate(study.cases, start=1)]
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
    for t in range(len(study.treatments)):
        for r in range(len(study.readers)):
            lines += [f"{r + 1},{c + 1},{t + 1},{float(study.ratings[t, r, c])!r}" for c in range(len(study.cases))]
    return "\n".join(lines) + "\n"


def rjafroc_workbook(study: ReaderStudy) -> bytes:
    """RJafroc's JAFROC-format Excel workbook for an ROC study (``DfReadDataFile(file)``).

    Notes
    -----
    Sheet Truth lists each case once: non-diseased with LesionID 0 and weight 0, diseased
    with LesionID 1 and weight 1, plus the reader and modality IDs and the paradigm
    ("ROC", "crossed") in the first rows. Sheet FP holds the ratings of non-diseased cases,
    sheet TP those of diseased cases. IDs are numbered from 1 as in :func:`imrmc_text`.

    References
    ----------
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging.
    CRC Press, chapter "Data format" (RJafroc's JAFROC Excel format).
    """
    readers = list(range(1, len(study.readers) + 1))
    modalities = list(range(1, len(study.treatments) + 1))
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
    (no comma, no surrounding blanks), otherwise they are numbered from 1. The sheets are
    named FP and TP, not NL and LL: RJafroc's reader checks the sorted sheet names and
    refuses the pair NL + LL ("LL" sorts first).

    References
    ----------
    Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press.
    """
    readers, modalities = _jafroc_ids(study.readers), _jafroc_ids(study.treatments)
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
    """The labels where RJafroc reads them back unchanged (it splits ID lists on commas and trims blanks)."""
    readable = all(label and "," not in label and label == label.strip() for label in labels)
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
