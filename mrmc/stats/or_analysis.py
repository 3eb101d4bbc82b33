"""Obuchowski-Rockette analysis of reader x treatment figures of merit.

From the figures of merit ``theta[treatment, reader]`` and their case-sampling
covariance matrix this module gives the OR variance components and the three
generalizations: random readers and random cases (RRRC, Hillis ddf), fixed readers
and random cases (FRRC) and random readers and fixed cases (RRFC).

Conventions
-----------
``'iowa'`` (default) follows OR-DBM MRMC 2.5 (University of Iowa) and RJafroc:
the FRRC error term uses max(Cov2 - Cov3, 0). ``'mrmcaov'`` follows MRMCaov 0.3:
the FRRC error term is not truncated and single-treatment CIs are clipped to [0, 1].
Both truncate Cov2 - Cov3 at 0 in the RRRC error term, as published by Hillis.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special

from .or_components import (
    covariance_averages,
    mean_squares,
    reader_covariances,
    sums_of_squares,
    treatment_covariances,
    variance_components,
)
from .or_results import (
    Difference,
    Generalization,
    GlobalTest,
    MeanSquares,
    ORAnalysis,
    ReaderComponents,
    TreatmentComponents,
    TreatmentInterval,
    VarianceComponents,
)

CONVENTIONS = ("iowa", "mrmcaov")


def rrrc_test(theta: np.ndarray, cov: np.ndarray) -> GlobalTest:
    """RRRC F test of equal treatment means with Hillis ddf; vectorized over leading axes.

    ``theta`` is (..., T, R) and ``cov`` (..., T*R, T*R); with leading axes the fields of
    the returned test are arrays (one value per study).

    Notes
    -----
    F = MS(T) / den, den = MS(T:R) + R max(Cov2 - Cov3, 0),
    ddf_H = den^2 / (MS(T:R)^2 / ((T-1)(R-1))) (Hillis 2007).
    """
    n_t, n_r = theta.shape[-2:]
    ss_t, _, ss_tr = sums_of_squares(theta)
    df_t, df_tr = n_t - 1, (n_t - 1) * (n_r - 1)
    ms_t, ms_tr = ss_t / df_t, ss_tr / df_tr
    _, _, cov2, cov3 = covariance_averages(cov, n_t, n_r)
    denominator = ms_tr + n_r * np.maximum(cov2 - cov3, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # MS(T:R) = 0: ddf is infinite
        ddf = denominator**2 / (ms_tr**2 / df_tr)
        statistic = ms_t / denominator
    return _f_test(statistic, df_t, ddf, denominator)


def or_analysis(
    theta: np.ndarray,
    cov: np.ndarray,
    treatments: tuple[str, ...],
    readers: tuple[str, ...],
    *,
    convention: str = "iowa",
    alpha: float = 0.05,
) -> ORAnalysis:
    """Obuchowski-Rockette analysis for any number of treatments and readers.

    Parameters
    ----------
    theta : ndarray, shape (T, R)
        Figure of merit per treatment and reader.
    cov : ndarray, shape (T*R, T*R)
        Case-sampling covariance of ``theta.ravel()``.
    convention : {'iowa', 'mrmcaov'}
        See the module docstring.

    Notes
    -----
    RRRC: F = MS(T) / [MS(T:R) + R max(Cov2 - Cov3, 0)] with Hillis's denominator
    degrees of freedom ddf_H; FRRC: X2 = (T-1) MS(T) / [Var - Cov1 + (R-1)(Cov2 - Cov3)];
    RRFC: F = MS(T) / MS(T:R). RRRC and RRFC need at least two readers.

    References
    ----------
    Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for
    multiple readers and multiple tests: an ANOVA approach with dependent observations.
    Communications in Statistics - Simulation and Computation 24:285-308.
    Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple
    observer ROC analysis. Statistics in Medicine 26:596-619.
    Hillis SL, Berbaum KS, Metz CE (2008). Recent developments in the Dorfman-Berbaum-Metz
    procedure for multireader ROC study analysis. Academic Radiology 15:647-661.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    n_t, n_r = theta.shape
    ms = mean_squares(theta)
    components = variance_components(ms, cov, n_t, n_r)
    var_i, cov2_i = treatment_covariances(cov, n_t, n_r)
    ms_r_i = ms.ms_r_by_treatment or (None,) * n_t
    by_treatment = tuple(
        TreatmentComponents(t, ms_r, float(v), float(c))
        for t, ms_r, v, c in zip(treatments, ms_r_i, var_i, cov2_i, strict=True)
    )
    per_reader = reader_covariances(cov, n_t, n_r)
    by_reader = (
        ()
        if per_reader is None
        else tuple(ReaderComponents(r, float(v), float(c)) for r, v, c in zip(readers, *per_reader, strict=True))
    )
    context = _Context(theta, cov, treatments, readers, ms, components, by_treatment, by_reader, convention, alpha)
    return ORAnalysis(
        mean_squares=ms,
        var_components=components,
        treatment_components=by_treatment,
        reader_components=by_reader,
        rrrc=context.rrrc() if n_r > 1 else None,
        frrc=context.frrc(),
        rrfc=context.rrfc() if n_r > 1 else None,
    )


@dataclass(frozen=True)
class _Context:
    """What the three generalizations share: the figures of merit and their components."""

    theta: np.ndarray
    cov: np.ndarray
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    ms: MeanSquares
    components: VarianceComponents
    by_treatment: tuple[TreatmentComponents, ...]
    by_reader: tuple[ReaderComponents, ...]
    convention: str
    alpha: float

    @property
    def n_readers(self) -> int:
        return self.theta.shape[1]

    @property
    def cov2_minus_cov3(self) -> float:
        if self.components.cov2 is None or self.components.cov3 is None:
            return 0.0
        return self.components.cov2 - self.components.cov3

    def rrrc(self) -> Generalization:
        n_r = self.n_readers
        test = None
        differences: tuple[Difference, ...] = ()
        if self.ms.ms_t is not None:
            test = rrrc_test(self.theta, self.cov)
            differences = self.treatment_differences(np.sqrt(2 * test.denominator / n_r), test.df2)
        ms_r_i = np.array([part.ms_r for part in self.by_treatment])
        cov2_i = np.maximum([part.cov2 for part in self.by_treatment], 0.0)
        se = np.sqrt(ms_r_i / n_r + cov2_i)
        with np.errstate(divide="ignore", invalid="ignore"):  # MS(R) = 0: df is infinite
            df = (ms_r_i + n_r * cov2_i) ** 2 / (ms_r_i**2 / (n_r - 1))
        return Generalization("rrrc", test, differences, self.treatment_intervals(se, df))

    def frrc(self) -> Generalization:
        n_r = self.n_readers
        test = None
        differences: tuple[Difference, ...] = ()
        reader_differences: tuple[Difference, ...] = ()
        if self.ms.ms_t is not None:
            excess = self.cov2_minus_cov3
            if self.convention == "iowa":
                excess = max(excess, 0.0)
            c = self.components
            denominator = c.var_error - c.cov1 + (n_r - 1) * excess
            statistic = self.ms.df_t * self.ms.ms_t / denominator
            test = GlobalTest(
                statistic=float(statistic),
                df1=self.ms.df_t,
                df2=None,
                p=float(special.chdtrc(self.ms.df_t, statistic)),
                denominator=float(denominator),
            )
            differences = self.treatment_differences(np.sqrt(2 * denominator / n_r), None)
            reader_differences = tuple(
                self.difference(
                    self.theta[:, j], a, b, np.sqrt(2 * (part.var_error - part.cov1)), None, reader=part.reader
                )
                for j, part in enumerate(self.by_reader)
                for a, b in combinations(range(len(self.treatments)), 2)
            )
        var_i = np.array([part.var_error for part in self.by_treatment])
        cov2_i = np.maximum([part.cov2 for part in self.by_treatment], 0.0)
        se = np.sqrt((var_i + (n_r - 1) * cov2_i) / n_r)
        return Generalization("frrc", test, differences, self.treatment_intervals(se, None), reader_differences)

    def rrfc(self) -> Generalization:
        n_r = self.n_readers
        test = None
        differences: tuple[Difference, ...] = ()
        if self.ms.ms_t is not None:
            test = _f_test(self.ms.ms_t / self.ms.ms_tr, self.ms.df_t, self.ms.df_tr, self.ms.ms_tr)
            differences = self.treatment_differences(np.sqrt(2 * self.ms.ms_tr / n_r), self.ms.df_tr)
        se = np.sqrt(np.asarray(self.ms.ms_r_by_treatment) / n_r)
        return Generalization("rrfc", test, differences, self.treatment_intervals(se, n_r - 1))

    def treatment_differences(self, se: float, df: float | None) -> tuple[Difference, ...]:
        means = self.theta.mean(axis=1)
        return tuple(self.difference(means, a, b, se, df) for a, b in combinations(range(len(self.treatments)), 2))

    def difference(
        self, values: np.ndarray, a: int, b: int, se: float, df: float | None, reader: str | None = None
    ) -> Difference:
        estimate = float(values[a] - values[b])
        with np.errstate(divide="ignore", invalid="ignore"):  # se = 0: statistic and p are NaN
            statistic = np.float64(estimate) / se
        half_width = _quantile(1 - self.alpha / 2, df) * se
        return Difference(
            treatments=(self.treatments[a], self.treatments[b]),
            estimate=estimate,
            se=float(se),
            statistic=float(statistic),
            df=None if df is None else float(df),
            p=float(2 * _upper_tail(abs(statistic), df)),
            ci=(estimate - half_width, estimate + half_width),
            reader=reader,
        )

    def treatment_intervals(self, se: np.ndarray, df: np.ndarray | float | None) -> tuple[TreatmentInterval, ...]:
        means = self.theta.mean(axis=1)
        dfs = [None] * len(means) if df is None else np.broadcast_to(df, means.shape)
        intervals = []
        for treatment, mean, error, freedom in zip(self.treatments, means, se, dfs, strict=True):
            quantile = _quantile(1 - self.alpha / 2, freedom)
            low, high = mean - quantile * error, mean + quantile * error
            if self.convention == "mrmcaov":
                low, high = max(low, 0.0), min(high, 1.0)
            intervals.append(
                TreatmentInterval(
                    treatment=treatment,
                    estimate=float(mean),
                    se=float(error),
                    df=None if freedom is None else float(freedom),
                    ci=(float(low), float(high)),
                )
            )
        return tuple(intervals)


# Distribution functions straight from scipy.special (what scipy.stats calls, without
# its per-call overhead, which adds up over per-reader tests).
def _quantile(q: float, df: float | None) -> float:
    """Quantile of the standard normal (df None) or Student t distribution."""
    return special.ndtri(q) if df is None else special.stdtrit(df, q)


def _upper_tail(x: float, df: float | None) -> float:
    """Upper-tail probability of the standard normal (df None) or Student t distribution."""
    return special.ndtr(-x) if df is None else special.stdtr(df, -x)


def _f_test(statistic, df1: int, df2, denominator) -> GlobalTest:
    """An F test; scalars, or arrays with one value per study (simulations)."""
    return GlobalTest(
        statistic=_float_or_array(statistic),
        df1=df1,
        df2=_float_or_array(df2),
        p=_float_or_array(special.fdtrc(df1, df2, statistic)),
        denominator=_float_or_array(denominator),
    )


def _float_or_array(values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(values) == 0 else values
