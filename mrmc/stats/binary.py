"""Sensitivity and specificity as MRMC endpoints.

A read is a positive call when its rating is at or above the threshold. Sensitivity is the
fraction of diseased cases called positive, specificity the fraction of non-diseased cases
called negative: each is a mean over the cases of one class only, so only those cases carry
its case-sampling variance. Two conventions are offered:

- ``'or'`` (default, MRMCaov's ``binary_sens`` / ``binary_spec``): the Obuchowski-Rockette
  analysis (RRRC, FRRC, RRFC) with the jackknife over the cases of the endpoint's class
  (:func:`class_restricted_covariance`); for one reader its variance is the unbiased
  p(1 - p) / (n - 1).
- ``'ustat'`` (iMRMC's convention for binary scores): the reader-averaged proportion and the
  difference between treatments with the U-statistic variance over random readers and
  random cases (:func:`ustat_variance`), normal-approximation intervals.

Treatment differences are ``treatments[0] - treatments[1]``: pass the AI (aided) arm first
so that they read AI minus control.

References
----------
Gallas BD, Pennello GA, Myers KJ (2007). Multireader multicase variance analysis for
binary data. Journal of the Optical Society of America A 24:B70-B80.
Obuchowski NA, Rockette HE (1995). Communications in Statistics - Simulation and
Computation 24:285-308. Hillis SL (2007). Statistics in Medicine 26:596-619.
Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software for
diagnostic performance comparison of imaging modalities. Proc SPIE 11316 (the MRMCaov R
package: ``binary_sens``, ``binary_spec``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from .covariance import estimate_covariance, reader_averaged_covariance
from .fom import FigureOfMerit
from .or_analysis import or_analysis
from .or_results import ORAnalysis

BINARY_KINDS = ("sens", "spec")
BINARY_METHODS = ("or", "ustat")


def correct_calls(ratings: np.ndarray, truth: np.ndarray, *, kind: str, threshold: float) -> np.ndarray:
    """1.0 where a read of the endpoint's class is called correctly, shaped (..., n_class).

    ``kind='sens'``: the diseased cases, rated at or above ``threshold``;
    ``kind='spec'``: the non-diseased cases, rated below it.
    """
    if kind == "sens":
        return (ratings[..., truth] >= threshold).astype(float)
    if kind == "spec":
        return (ratings[..., ~truth] < threshold).astype(float)
    raise ValueError(f"unknown binary endpoint {kind!r}; choose one of {', '.join(BINARY_KINDS)}")


def class_restricted_covariance(
    ratings: np.ndarray, truth: np.ndarray, *, kind: str, threshold: float, reader_averaged: bool = False
) -> np.ndarray:
    """Jackknife covariance of sensitivity (specificity) over the diseased (non-diseased) cases only.

    ``ratings`` is (..., T, R, N), leading axes being independent studies; the result is over
    the flattened (treatment, reader) index, ``(..., T*R, T*R)``, or with ``reader_averaged``
    (one study) its :func:`~mrmc.stats.covariance.reader_averaged_covariance`.

    Notes
    -----
    With n cases in the class and correct-call indicators c, leaving out case k gives
    (n p - c_k) / (n - 1), so the jackknife (n - 1)/n sum_k (p_-k - mean)(q_-k - mean)
    equals sum_k (c_k - p)(d_k - q) / (n (n - 1)): the sample covariance (ddof 1) over n,
    which is also the DeLong and the U-statistic (iMRMC) case covariance of a class mean.
    For one reader it is p (1 - p) / (n - 1). Jackknifing over all N cases instead, as for
    the AUC, multiplies it by (N - 1)/N / ((n - 1)/n), because the other class's cases
    leave the proportion unchanged.

    References
    ----------
    Smith BJ, Hillis SL (2020). Proc SPIE 11316: the MRMCaov R package, ``binary_sens`` and
    ``binary_spec`` with ``cov = jackknife``.
    """
    calls = correct_calls(ratings, truth, kind=kind, threshold=threshold)
    flat = calls.reshape(calls.shape[:-3] + (-1, calls.shape[-1]))
    n_class = flat.shape[-1]
    if n_class < 2:
        raise ValueError(f"{kind} needs at least two cases of its class for a variance")
    centred = flat - flat.mean(axis=-1, keepdims=True)
    cov = centred @ centred.swapaxes(-1, -2) / (n_class * (n_class - 1))
    if reader_averaged:
        if ratings.ndim != 3:
            raise ValueError("the reader-averaged covariance is computed for one study at a time")
        return reader_averaged_covariance(cov, *ratings.shape[-3:-1])
    return cov


def endpoint_covariance(
    method: str,
    fom: FigureOfMerit,
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    reader_averaged: bool = False,
    **options,
) -> np.ndarray:
    """:func:`~mrmc.stats.covariance.estimate_covariance`, with sensitivity and specificity
    jackknifed within their class (MRMCaov's convention).

    For ``sens``/``spec`` the ``jackknife`` and the ``unbiased`` (U-statistic) estimators
    are the same matrix (:func:`class_restricted_covariance`); every other figure of merit
    and method goes to :func:`~mrmc.stats.covariance.estimate_covariance` unchanged
    (``options``: its keyword arguments).
    """
    if fom.kind in BINARY_KINDS and method in ("jackknife", "unbiased"):
        return class_restricted_covariance(
            ratings, truth, kind=fom.kind, threshold=fom.threshold, reader_averaged=reader_averaged
        )
    return estimate_covariance(method, fom, ratings, truth, reader_averaged=reader_averaged, **options)


def ustat_variance(scores: np.ndarray) -> np.ndarray:
    """Unbiased variance of the grand mean of reader x case scores, readers and cases random.

    ``scores`` is (..., R, n): one score per reader and case (a correct-call indicator,
    or the difference of two treatments' indicators). Needs R >= 2 and n >= 2.

    Notes
    -----
    With the moments of products of scores sharing reader and case (M1), the reader only
    (M2), the case only (M3) or neither (M4), each estimated without bias by its mean over
    the distinct pairs of that kind,
    Var = (M1 + (n - 1) M2 + (R - 1) M3 + (1 - n - R) M4) / (R n)
    (Gallas, Pennello & Myers 2007). On a fully crossed study it equals
    (MS(R) + MS(C) - MS(RC)) / (R n) of the reader x case ANOVA.
    """
    n_r, n_c = scores.shape[-2:]
    if n_r < 2 or n_c < 2:
        raise ValueError("the U-statistic variance needs at least two readers and two cases")
    squares = np.sum(scores**2, axis=(-2, -1))
    by_reader = np.sum(scores.sum(axis=-1) ** 2, axis=-1)
    by_case = np.sum(scores.sum(axis=-2) ** 2, axis=-1)
    total = scores.sum(axis=(-2, -1)) ** 2
    m1 = squares / (n_r * n_c)
    m2 = (by_reader - squares) / (n_r * n_c * (n_c - 1))
    m3 = (by_case - squares) / (n_c * n_r * (n_r - 1))
    m4 = (total - by_reader - by_case + squares) / (n_r * (n_r - 1) * n_c * (n_c - 1))
    return (m1 + (n_c - 1) * m2 + (n_r - 1) * m3 + (1 - n_c - n_r) * m4) / (n_r * n_c)


@dataclass(frozen=True)
class ProportionEstimate:
    """A reader-averaged proportion, or a difference of two, with its U-statistic variance."""

    label: str
    estimate: float
    variance: float
    se: float
    z: float | None
    p: float | None
    ci: tuple[float, float]


@dataclass(frozen=True)
class BinaryEndpointAnalysis:
    """Sensitivity or specificity per reader and reader-averaged, with their inference.

    Attributes
    ----------
    fom_table, reader_se : ndarray, shape (T, R)
        Proportion per treatment and reader and its class-restricted jackknife SE.
    reader_ci : ndarray, shape (T, R, 2)
        Wald interval proportion +/- z SE, clipped to [0, 1].
    analysis : ORAnalysis or None
        The OR analysis (method 'or').
    ustat_means, ustat_differences : tuple of ProportionEstimate
        Per treatment, and ``treatments[a] - treatments[b]`` for a < b (method 'ustat').
    """

    kind: str
    threshold: float
    method: str
    alpha: float
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    n_class: int
    fom_table: np.ndarray
    reader_se: np.ndarray
    reader_ci: np.ndarray
    analysis: ORAnalysis | None = None
    ustat_means: tuple[ProportionEstimate, ...] = ()
    ustat_differences: tuple[ProportionEstimate, ...] = ()


def binary_endpoint_analysis(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    kind: str,
    threshold: float,
    treatments: tuple[str, ...],
    readers: tuple[str, ...],
    method: str = "or",
    convention: str = "iowa",
    alpha: float = 0.05,
) -> BinaryEndpointAnalysis:
    """MRMC analysis of sensitivity (``kind='sens'``) or specificity (``'spec'``).

    Parameters
    ----------
    ratings : ndarray, shape (T, R, N)
    truth : ndarray of bool, shape (N,)
    threshold : float
        A rating at or above it is a positive call.
    treatments : tuple of str
        Differences are first minus later: put the AI (aided) arm first.
    method : {'or', 'ustat'}
        See the module docstring.
    convention : {'iowa', 'mrmcaov'}
        For ``'or'``, see :mod:`mrmc.stats.or_analysis`.
    """
    if method not in BINARY_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(BINARY_METHODS)}")
    ratings = np.asarray(ratings, dtype=float)
    truth = np.asarray(truth, dtype=bool)
    calls = correct_calls(ratings, truth, kind=kind, threshold=threshold)
    theta = calls.mean(axis=-1)
    cov = class_restricted_covariance(ratings, truth, kind=kind, threshold=threshold)
    reader_se = np.sqrt(np.diag(cov)).reshape(theta.shape)
    half_width = special.ndtri(1 - alpha / 2) * reader_se
    reader_ci = np.clip(np.stack([theta - half_width, theta + half_width], axis=-1), 0.0, 1.0)
    common = dict(
        kind=kind, threshold=threshold, method=method, alpha=alpha, treatments=tuple(treatments),
        readers=tuple(readers), n_class=calls.shape[-1], fom_table=theta, reader_se=reader_se, reader_ci=reader_ci,
    )
    if method == "or":
        n_t, n_r = theta.shape
        averaged = reader_averaged_covariance(cov, n_t, n_r)
        analysis = or_analysis(theta, averaged, tuple(treatments), tuple(readers), convention=convention, alpha=alpha)
        return BinaryEndpointAnalysis(**common, analysis=analysis)
    means = tuple(_ustat_estimate(label, calls[t], alpha, test=False) for t, label in enumerate(treatments))
    differences = tuple(
        _ustat_estimate(f"{treatments[a]} - {treatments[b]}", calls[a] - calls[b], alpha, test=True)
        for a in range(len(treatments))
        for b in range(a + 1, len(treatments))
    )
    return BinaryEndpointAnalysis(**common, ustat_means=means, ustat_differences=differences)


def _ustat_estimate(label: str, scores: np.ndarray, alpha: float, *, test: bool) -> ProportionEstimate:
    """Reader-averaged mean of ``scores`` (R, n) with its U-statistic variance and normal interval."""
    estimate = float(scores.mean())
    variance = float(ustat_variance(scores))
    se = float(np.sqrt(max(variance, 0.0)))
    half_width = special.ndtri(1 - alpha / 2) * se
    z = p = None
    if test and se > 0:
        z = estimate / se
        p = float(2 * special.ndtr(-abs(z)))
    return ProportionEstimate(label, estimate, variance, se, z, p, (estimate - half_width, estimate + half_width))
