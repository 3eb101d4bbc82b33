"""Reader-study data written in the input formats of other MRMC software.

- MRMCaov (R): a data frame with columns reader, treatment, case, truth, rating.
- iMRMC (FDA, Gallas): a text file with a header (NR, N0, N1, NM), ``BEGIN DATA:`` and
  ``reader,case,modality,score`` rows, truth given as rows of reader -1, modality 0.
- RJafroc (Chakraborty): the JAFROC Excel workbook of an ROC study (sheets Truth, FP, TP).
"""

from __future__ import annotations

import csv
import io

from .data import ReaderStudy

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
    from openpyxl import Workbook

    book = Workbook()
    truth_sheet = book.active
    truth_sheet.title = "Truth"
    truth_sheet.append(["CaseID", "LesionID", "Weight", "ReaderID", "ModalityID", "Paradigm"])
    reader_ids = ", ".join(str(r) for r in range(1, len(study.readers) + 1))
    modality_ids = ", ".join(str(m) for m in range(1, len(study.treatments) + 1))
    paradigm = ["ROC", "crossed"]
    for c, diseased in enumerate(study.truth, start=1):
        truth_sheet.append(
            [c, int(diseased), int(diseased), reader_ids, modality_ids, paradigm[c - 1] if c <= len(paradigm) else None]
        )
    false_pos = book.create_sheet("FP")
    false_pos.append(["ReaderID", "ModalityID", "CaseID", "FP_Rating"])
    true_pos = book.create_sheet("TP")
    true_pos.append(["ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating"])
    for t in range(len(study.treatments)):
        for r in range(len(study.readers)):
            for c, diseased in enumerate(study.truth):
                rating = float(study.ratings[t, r, c])
                if diseased:
                    true_pos.append([r + 1, t + 1, c + 1, 1, rating])
                else:
                    false_pos.append([r + 1, t + 1, c + 1, rating])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
