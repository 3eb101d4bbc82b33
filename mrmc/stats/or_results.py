"""Result objects of the Obuchowski-Rockette analysis (:mod:`mrmc.stats.or_analysis`).

Frozen dataclasses: the ANOVA mean squares, the OR variance components, and per
generalization (RRRC, FRRC, RRFC) the global test, the treatment differences and the
single-treatment confidence intervals.

References
----------
Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the
Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
characteristic (ROC) data. Statistics in Medicine 24:1579-1607.
"""

from __future__ import annotations

from dataclasses import dataclass


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
