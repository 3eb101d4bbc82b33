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

CONVENTIONS = ("iowa", "mrmcaov")


@dataclass(frozen=True)
class MeanSquares:
    """Treatment x reader ANOVA of the figures of merit (``None`` where undefined)."""

    ms_t: float | None
    ms_r: float | None
    ms_tr: float | None
    ms_r_by_treatment: tuple[float, ...] | None
    df_t: int
    df_r: int
    df_tr: int


@dataclass(frozen=True)
class VarianceComponents:
    """OR variance components; Var, Cov1-3 are averages of the covariance matrix entries.

    Cov1: same reader, different treatments; Cov2: same treatment, different readers;
    Cov3: different reader and treatment. ``None`` where the design cannot estimate it
    (one treatment or one reader).
    """

    var_R: float | None
    var_TR: float | None
    cov1: float | None
    cov2: float | None
    cov3: float | None
    var_error: float

    def correlations(self) -> dict[str, float | None]:
        """Cov_i / Var(error)."""
        return {
            name: (value / self.var_error if value is not None and self.var_error else None)
            for name, value in (("corr1", self.cov1), ("corr2", self.cov2), ("corr3", self.cov3))
        }

    def dbm_equivalent(self, n_cases: int) -> dict[str, float | None]:
        """Dorfman-Berbaum-Metz variance components implied by these OR components.

        Notes
        -----
        Hillis et al. (2005): sigma2_C = c Cov3, sigma2_TC = c (Cov2 - Cov3),
        sigma2_RC = c (Cov1 - Cov3), sigma2_TRC + sigma2_eps = c (Var - Cov1 - Cov2 + Cov3),
        with c cases; reader terms are shared. Exact for jackknife covariances.
        """
        if None in (self.cov1, self.cov2, self.cov3):
            return {}
        return {
            "var_R": self.var_R,
            "var_C": n_cases * self.cov3,
            "var_TR": self.var_TR,
            "var_TC": n_cases * (self.cov2 - self.cov3),
            "var_RC": n_cases * (self.cov1 - self.cov3),
            "var_TRC_error": n_cases * (self.var_error - self.cov1 - self.cov2 + self.cov3),
        }


@dataclass(frozen=True)
class GlobalTest:
    """Test of equal treatment means: F (``df2`` given) or chi-square (``df2`` None)."""

    statistic: float
    df1: int
    df2: float | None
    p: float
    denominator: float


@dataclass(frozen=True)
class Difference:
    """A difference of figures of merit, first minus second treatment."""

    treatments: tuple[str, str]
    estimate: float
    se: float
    statistic: float
    df: float | None
    p: float
    ci: tuple[float, float]
    reader: str | None = None


@dataclass(frozen=True)
class TreatmentInterval:
    """Confidence interval for one treatment's mean figure of merit."""

    treatment: str
    estimate: float
    se: float
    df: float | None
    ci: tuple[float, float]


@dataclass(frozen=True)
class Generalization:
    """Results that apply to one population: rrrc, frrc or rrfc.

    ``reader_differences`` (FRRC only) hold each reader's own treatment differences.
    """

    name: str
    test: GlobalTest | None
    differences: tuple[Difference, ...]
    treatment_ci: tuple[TreatmentInterval, ...]
    reader_differences: tuple[Difference, ...] = ()


@dataclass(frozen=True)
class TreatmentComponents:
    """A treatment's own reader mean square, error variance and Cov2 (single-treatment CIs)."""

    treatment: str
    ms_r: float | None
    var_error: float
    cov2: float


@dataclass(frozen=True)
class ReaderComponents:
    """A reader's own error variance and Cov1 (FRRC reader-specific differences)."""

    reader: str
    var_error: float
    cov1: float


@dataclass(frozen=True)
class ORAnalysis:
    mean_squares: MeanSquares
    var_components: VarianceComponents
    treatment_components: tuple[TreatmentComponents, ...]
    reader_components: tuple[ReaderComponents, ...]
    rrrc: Generalization | None
    frrc: Generalization
    rrfc: Generalization | None


def _anova(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of squares for treatment, reader and interaction of ``theta[..., T, R]``."""
    grand = theta.mean(axis=(-2, -1), keepdims=True)
    by_t = theta.mean(axis=-1, keepdims=True)
    by_r = theta.mean(axis=-2, keepdims=True)
    return (
        theta.shape[-1] * np.sum((by_t - grand) ** 2, axis=(-2, -1)),
        theta.shape[-2] * np.sum((by_r - grand) ** 2, axis=(-2, -1)),
        np.sum((theta - by_t - by_r + grand) ** 2, axis=(-2, -1)),
    )


def mean_squares(theta: np.ndarray) -> MeanSquares:
    """Two-way treatment x reader ANOVA mean squares of ``theta[treatment, reader]``."""
    n_t, n_r = theta.shape
    ss_t, ss_r, ss_tr = _anova(theta)
    df_t, df_r, df_tr = n_t - 1, n_r - 1, (n_t - 1) * (n_r - 1)
    return MeanSquares(
        ms_t=float(ss_t / df_t) if df_t else None,
        ms_r=float(ss_r / df_r) if df_r else None,
        ms_tr=float(ss_tr / df_tr) if df_tr else None,
        ms_r_by_treatment=tuple(map(float, np.var(theta, axis=1, ddof=1))) if df_r else None,
        df_t=df_t,
        df_r=df_r,
        df_tr=df_tr,
    )


def _covariance_blocks(cov: np.ndarray, n_t: int, n_r: int) -> np.ndarray:
    return cov.reshape(cov.shape[:-2] + (n_t, n_r, n_t, n_r))


def covariance_averages(cov: np.ndarray, n_t: int, n_r: int) -> tuple[np.ndarray, ...]:
    """Var, Cov1, Cov2, Cov3: averages of the (..., T*R, T*R) covariance entries (None if none)."""
    blocks = _covariance_blocks(cov, n_t, n_r)
    same_t = np.eye(n_t, dtype=bool)[:, None, :, None]
    same_r = np.eye(n_r, dtype=bool)[None, :, None, :]
    averages = []
    for mask in (same_t & same_r, ~same_t & same_r, same_t & ~same_r, ~same_t & ~same_r):
        mask = np.broadcast_to(mask, blocks.shape[-4:])
        averages.append(np.sum(blocks * mask, axis=(-4, -3, -2, -1)) / mask.sum() if mask.any() else None)
    return tuple(averages)


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
    ss_t, _, ss_tr = _anova(theta)
    df_t, df_tr = n_t - 1, (n_t - 1) * (n_r - 1)
    ms_t, ms_tr = ss_t / df_t, ss_tr / df_tr
    _, _, cov2, cov3 = covariance_averages(cov, n_t, n_r)
    denominator = ms_tr + n_r * np.maximum(cov2 - cov3, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # MS(T:R) = 0: ddf is infinite
        ddf = denominator**2 / (ms_tr**2 / df_tr)
        statistic = ms_t / denominator
    return _f_test(statistic, df_t, ddf, denominator)


def _float_or_array(values: np.ndarray) -> float | np.ndarray:
    return float(values) if np.ndim(values) == 0 else values


def treatment_covariances(cov: np.ndarray, n_t: int, n_r: int) -> tuple[np.ndarray, np.ndarray]:
    """Var_i and Cov2_i from each treatment's own block (Cov2_i = 0 with one reader)."""
    within = _covariance_blocks(cov, n_t, n_r)[np.arange(n_t), :, np.arange(n_t), :]
    var_i = np.einsum("irr->ir", within).mean(axis=1)
    if n_r == 1:
        return var_i, np.zeros_like(var_i)
    return var_i, within[:, ~np.eye(n_r, dtype=bool)].mean(axis=1)


def reader_covariances(cov: np.ndarray, n_t: int, n_r: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Var_j and Cov1_j from each reader's own block (None with one treatment)."""
    if n_t == 1:
        return None
    within = _covariance_blocks(cov, n_t, n_r)[:, np.arange(n_r), :, np.arange(n_r)]
    return np.einsum("rii->ri", within).mean(axis=1), within[:, ~np.eye(n_t, dtype=bool)].mean(axis=1)


def variance_components(ms: MeanSquares, cov: np.ndarray, n_t: int, n_r: int) -> VarianceComponents:
    """OR variance components by the method of moments.

    Notes
    -----
    var_R = (MS(R) - MS(T:R)) / T - Cov1 + Cov3 and
    var_TR = MS(T:R) - Var + Cov1 - Cov3 + Cov2 (Hillis 2007); with a single treatment
    var_R = MS(R) - Var + Cov2.
    """
    var, cov1, cov2, cov3 = (None if a is None else float(a) for a in covariance_averages(cov, n_t, n_r))
    if ms.ms_r is None:
        var_r = var_tr = None
    elif ms.ms_t is None:
        var_r, var_tr = float(ms.ms_r - var + cov2), None
    else:
        var_r = float((ms.ms_r - ms.ms_tr) / n_t - cov1 + cov3)
        var_tr = float(ms.ms_tr - var + cov1 + (cov2 - cov3))
    return VarianceComponents(var_R=var_r, var_TR=var_tr, cov1=cov1, cov2=cov2, cov3=cov3, var_error=var)


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
