"""One call from ratings to a complete MRMC analysis."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .binary import endpoint_covariance
from .covariance import Moments
from .data import ReaderStudy, StudyDataError, validate_ratings
from .design_covariance import design_unbiased_covariance, design_values_and_jackknife
from .designs import StudyDesign, detect_design
from .fom import FigureOfMerit, RankedRatings
from .or_analysis import or_analysis
from .or_results import ORAnalysis
from .ustatistics import UStatResult, ustat_analysis

METHODS = ("or", "ustat")


@dataclass(frozen=True, eq=False)
class ORResult:
    """Everything an MRMC report shows.

    Attributes
    ----------
    fom : FigureOfMerit
    cov : str
        Covariance method.
    convention : str
        'iowa' or 'mrmcaov' (see :mod:`mrmc.stats.or_analysis`).
    fom_table : ndarray, shape (T, R)
    covariance : ndarray, shape (T*R, T*R)
        Case-sampling covariance of the figures of merit, reader-averaged (see
        :func:`mrmc.stats.covariance.reader_averaged_covariance`): what the OR model uses.
    analysis : ORAnalysis
        Mean squares, variance components and the rrrc/frrc/rrfc results.
    design : StudyDesign
        The design found in the reads (fully crossed, split-plot or partially paired)
        and the reads missing.
    method : str
        'or': Obuchowski-Rockette over the reads that exist.
    """

    fom: FigureOfMerit
    cov: str
    convention: str
    alpha: float
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    n_normal: int
    n_abnormal: int
    fom_table: np.ndarray
    covariance: np.ndarray
    analysis: ORAnalysis
    n_bootstrap: int | None = None
    seed: int | None = None
    design: StudyDesign | None = None
    method: str = "or"

    @property
    def treatment_means(self) -> np.ndarray:
        return self.fom_table.mean(axis=1)


def analyze(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    treatments: Sequence[str] | None = None,
    readers: Sequence[str] | None = None,
    cases: Sequence[str] | None = None,
    fom: str | FigureOfMerit = "auc",
    threshold: float | None = None,
    pauc_range: tuple[float, float] | None = None,
    pauc_axis: str = "specificity",
    cov: str = "jackknife",
    n_bootstrap: int = 2000,
    seed: int | None = None,
    convention: str | None = None,
    alpha: float = 0.05,
    method: str = "or",
    bootstrap_chunks: Sequence[Moments] | None = None,
) -> ORResult | UStatResult:
    """Obuchowski-Rockette MRMC analysis of a reader study of any design.

    Parameters
    ----------
    ratings : array_like, shape (n_treatments, n_readers, n_cases)
        NaN where a read does not exist (split-plot designs, missing reads).
    truth : array_like of bool or 0/1, shape (n_cases,)
        1 / True = diseased.
    treatments, readers, cases : sequence of str, optional
        Labels (default "1", "2", ...). Differences are first minus second in this order.
    fom : {'auc', 'pauc', 'sens', 'spec'} or FigureOfMerit
    threshold : float, optional
        For sens/spec: a rating at or above it is a positive call.
    pauc_range, pauc_axis
        For pauc: the specificity (or sensitivity) range, default specificity 0.8-1.
    cov : {'jackknife', 'delong', 'unbiased', 'bootstrap'}
        Studies that are not fully crossed take 'jackknife' or 'unbiased' (AUC), as
        MRMCaov 0.3 computes them (:mod:`mrmc.stats.design_covariance`).
    n_bootstrap, seed
        Bootstrap resamples and random seed (bootstrap only).
    bootstrap_chunks : sequence of Moments, optional
        The bootstrap's chunks when computed elsewhere, in order
        (:func:`mrmc.stats.covariance.bootstrap_chunk`, e.g. on Celery workers).
    convention : {'iowa', 'mrmcaov'}, optional
        Default 'iowa' for fully crossed studies and 'mrmcaov' for any other design.
    alpha : float
        1 - confidence level of the intervals.
    method : {'or', 'ustat'}
        'or' (default): Obuchowski-Rockette. 'ustat': the U-statistic analysis of
        reader averages weighted by case pairs, as iMRMC 4.0 computes it (AUC only;
        ``cov`` and ``convention`` do not apply), see :mod:`mrmc.stats.ustatistics`.

    Returns
    -------
    ORResult, or UStatResult for method 'ustat'

    Notes
    -----
    Fully crossed, split-plot and partially paired studies share the OR formulas
    (factorial Hillis ddf); only the figures of merit (each over the cases its reader
    read) and their covariance differ. Reader averages are unweighted.

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and
    Computation 24:285-308. Hillis SL (2007). Statistics in Medicine 26:596-619.
    Hillis SL (2014). Statistics in Medicine 33:330-360 (split-plot OR).
    """
    ratings = np.asarray(ratings, dtype=float)
    truth = _as_truth(truth)
    validate_ratings(ratings, truth)
    n_t, n_r, n_cases = ratings.shape
    treatments = _labels(treatments, n_t, "treatments")
    readers = _labels(readers, n_r, "readers")
    design = detect_design(~np.isnan(ratings), truth, treatments, readers, _labels(cases, n_cases, "cases"))
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "ustat":
        if getattr(fom, "kind", fom) != "auc":
            raise ValueError("method='ustat' is defined for fom='auc' only")
        return ustat_analysis(ratings, truth, treatments=treatments, readers=readers, design=design, alpha=alpha)
    convention = convention or ("iowa" if design.fully_crossed else "mrmcaov")
    figure = fom if isinstance(fom, FigureOfMerit) else FigureOfMerit(fom, threshold, pauc_range, pauc_axis)
    if design.fully_crossed:
        ranked = RankedRatings.of(ratings, truth) if figure.kind == "auc" else None  # shared by AUC and covariance
        theta = figure.values(ratings, truth, ranked=ranked)
        cov_matrix = endpoint_covariance(
            cov, figure, ratings, truth, n_bootstrap=n_bootstrap, seed=seed, bootstrap_chunks=bootstrap_chunks,
            reader_averaged=True, ranked=ranked,
        )
    else:
        theta, cov_matrix = _design_estimates(cov, figure, ratings, truth, design)
    _require_case_variability(cov_matrix, figure.kind)
    return ORResult(
        fom=figure,
        cov=cov,
        convention=convention,
        alpha=alpha,
        treatments=treatments,
        readers=readers,
        n_normal=int(np.count_nonzero(~truth)),
        n_abnormal=int(np.count_nonzero(truth)),
        fom_table=theta,
        covariance=cov_matrix,
        analysis=or_analysis(theta, cov_matrix, treatments, readers, convention=convention, alpha=alpha),
        n_bootstrap=n_bootstrap if cov == "bootstrap" else None,
        seed=seed if cov == "bootstrap" else None,
        design=design,
    )


def _design_estimates(
    cov: str, figure: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, design: StudyDesign
) -> tuple[np.ndarray, np.ndarray]:
    """Figures of merit and covariance over the reads that exist (a design not fully crossed)."""
    if cov not in ("jackknife", "unbiased"):
        raise StudyDataError(
            f"cov={cov!r} needs a fully crossed study (every reader reads every case in every treatment); "
            f"this study is {design.label}: use cov='jackknife' or cov='unbiased'"
        )
    read = ~np.isnan(ratings)
    theta, jackknife = design_values_and_jackknife(figure, ratings, truth, read)
    if cov == "jackknife":
        return theta, jackknife
    if figure.kind != "auc":
        raise ValueError("the unbiased covariance estimator is defined for fom='auc' only")
    return theta, design_unbiased_covariance(ratings, truth, read)


def _require_case_variability(cov_matrix: np.ndarray, fom_name: str) -> None:
    """Every OR test divides by case-sampling variance; with none, no test is defined."""
    if not np.any(np.diag(cov_matrix) > 0):
        raise StudyDataError(
            f"degenerate data: every reader's {fom_name} has zero variance over cases (e.g. perfect "
            "separation of diseased and non-diseased cases, or one rating for every case); "
            "the OR tests are undefined"
        )


def analyze_study(study: ReaderStudy, **options) -> ORResult | UStatResult:
    """:func:`analyze` applied to a :class:`ReaderStudy`, keeping its labels."""
    return analyze(
        study.ratings, study.truth, treatments=study.treatments, readers=study.readers, cases=study.cases, **options
    )


def analyze_long(rows: Iterable[Mapping[str, object] | Sequence[object]], **options) -> ORResult | UStatResult:
    """Analyse long-table rows ``(reader, treatment, case, truth, rating)`` directly.

    This is the entry point for callers that hold reads as records (e.g. a database
    query); options are those of :func:`analyze`. Raises :class:`StudyDataError` on bad input.
    """
    return analyze_study(ReaderStudy.from_rows(rows), **options)


def _as_truth(truth: np.ndarray) -> np.ndarray:
    truth = np.asarray(truth)
    if truth.dtype != bool:
        if not np.isin(truth, (0, 1)).all():
            raise StudyDataError("truth must be 0 (non-diseased) or 1 (diseased)")
        truth = truth.astype(bool)
    return truth


def _labels(labels: Sequence[str] | None, count: int, what: str) -> tuple[str, ...]:
    if labels is None:
        return tuple(str(number) for number in range(1, count + 1))
    if len(labels) != count:
        raise StudyDataError(f"{len(labels)} {what} labels given for {count} {what}")
    return tuple(str(label) for label in labels)
