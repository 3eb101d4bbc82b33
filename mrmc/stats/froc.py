"""Obuchowski-Rockette analysis of FROC figures of merit (wAFROC, AFROC, HrAuc).

The figure-of-merit table and its jackknife covariance (leaving out one case of either class,
:mod:`mrmc.stats.froc_fom`; the estimator of ROC studies) go through the same OR analysis as ROC
studies (:func:`mrmc.stats.or_analysis.or_analysis`), so the result is an
:class:`~mrmc.stats.analysis.ORResult` with the JSON shape of ``analyze``; the FROC
result adds the descriptive end point of each FROC curve (lesion-level sensitivity and
non-lesion localizations per case at the lowest threshold).

This reproduces RJafroc's ``St(dataset, FOM, method = "OR", covEstMethod = "jackknife")``
(Iowa convention: FRRC error term with max(Cov2 - Cov3, 0)). RJafroc prints DF = K - 1 beside
its FRRC single-treatment intervals, whose bounds use the normal quantile as here (df None).

References
----------
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press.
Hillis SL (2007). Statistics in Medicine 26:596-619.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .analysis import ORResult
from .covariance import reader_averaged_covariance
from .data import StudyDataError
from .froc_data import FrocStudy, read_froc_csv
from .froc_fom import FrocFigureOfMerit, FrocRatings
from .or_analysis import or_analysis
from .report import result_to_json


@dataclass(frozen=True, eq=False)
class FrocResult:
    """An OR analysis of a FROC figure of merit with the FROC curves' end points.

    Attributes
    ----------
    analysis : ORResult
        Figure-of-merit table, reader-averaged jackknife covariance and the OR results.
    lesion_sensitivity : ndarray, shape (T, R)
        Lesion localizations / lesions at the lowest threshold (the FROC curve's last point).
    nl_fraction : ndarray, shape (T, R)
        Non-lesion localizations per case (NLF) at the lowest threshold.
    """

    analysis: ORResult
    n_lesions: int
    lesion_sensitivity: np.ndarray
    nl_fraction: np.ndarray


def froc_end_points(study: FrocStudy) -> tuple[np.ndarray, np.ndarray]:
    """Lesion-level sensitivity and NLF at the lowest threshold, each (T, R)."""
    marked_lesions = np.count_nonzero(np.isfinite(study.ll), axis=(-2, -1))
    nl_marks = np.count_nonzero(np.isfinite(study.nl), axis=(-2, -1))
    return marked_lesions / study.n_lesions, nl_marks / len(study.cases)


def analyze_froc(study: FrocStudy, *, fom: str = "wafroc", convention: str = "iowa", alpha: float = 0.05) -> FrocResult:
    """OR analysis (jackknife covariance) of a FROC figure of merit.

    Parameters
    ----------
    fom : {'wafroc', 'afroc', 'hrauc'}
    convention : {'iowa', 'mrmcaov'}
        See :mod:`mrmc.stats.or_analysis`; 'iowa' is RJafroc's.

    Raises
    ------
    StudyDataError
        If no reader's figure of merit varies over cases (the OR tests are undefined).
    """
    figure = FrocFigureOfMerit(fom)
    theta, covariance = FrocRatings.of_study(fom, study).values_and_covariance()
    if not np.any(np.diag(covariance) > 0):
        raise StudyDataError(
            f"degenerate data: every reader's {fom} has zero variance over cases; the OR tests are undefined"
        )
    n_t, n_r = theta.shape
    covariance = reader_averaged_covariance(covariance, n_t, n_r)
    analysis = ORResult(
        fom=figure,
        cov="jackknife",
        convention=convention,
        alpha=alpha,
        treatments=study.treatments,
        readers=study.readers,
        n_normal=study.n_normal,
        n_abnormal=study.n_diseased,
        fom_table=theta,
        covariance=covariance,
        analysis=or_analysis(theta, covariance, study.treatments, study.readers, convention=convention, alpha=alpha),
    )
    sensitivity, nlf = froc_end_points(study)
    return FrocResult(analysis, study.n_lesions, sensitivity, nlf)


def analyze_froc_csv(marks_path: str | Path, truth_path: str | Path, **options) -> FrocResult:
    """:func:`analyze_froc` of the long FROC format (``marks.csv`` + ``truth.csv``)."""
    return analyze_froc(read_froc_csv(marks_path, truth_path), **options)


def froc_result_to_json(result: FrocResult) -> dict:
    """``result_to_json`` of the OR analysis plus the lesion count and the FROC end points."""
    analysis = result.analysis

    def by_treatment_and_reader(values: np.ndarray) -> dict:
        return {
            treatment: {reader: float(v) for reader, v in zip(analysis.readers, row, strict=True)}
            for treatment, row in zip(analysis.treatments, values, strict=True)
        }

    return {
        **result_to_json(analysis),
        "n_lesions": result.n_lesions,
        "lesion_sensitivity": by_treatment_and_reader(result.lesion_sensitivity),
        "nl_fraction": by_treatment_and_reader(result.nl_fraction),
    }


def format_froc_end_points(result: FrocResult) -> str:
    """Text lines: each reader's lesion-level sensitivity and NLF at the lowest threshold."""
    analysis = result.analysis
    lines = ["", f"FROC end points (lowest threshold; {result.n_lesions} lesions): lesion sensitivity / NLF"]
    lines.append("reader      " + "".join(f"{t:>20}" for t in analysis.treatments))
    for j, reader in enumerate(analysis.readers):
        cells = (
            f"{s:.4f} / {f:.4f}" for s, f in zip(result.lesion_sensitivity[:, j], result.nl_fraction[:, j], strict=True)
        )
        lines.append(f"{reader:<12}" + "".join(f"{cell:>20}" for cell in cells))
    return "\n".join(lines) + "\n"
