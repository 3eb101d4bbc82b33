"""Dorfman-Berbaum-Metz (DBM) analysis: the treatment x reader x case ANOVA of jackknife pseudovalues.

Printed beside the OR analysis as the Iowa OR-DBM MRMC software does. With normalized
pseudovalues (each treatment-reader mean equal to its figure of merit) and the jackknife
covariance, DBM and OR give the same F statistic and, with Hillis' denominator degrees of
freedom, the same p value: MS_DBM(T) = c MS_OR(T), MS_DBM(T*R) = c MS_OR(T*R) and
MS(T*C) - MS(T*R*C) = c (Cov2 - Cov3) for c cases (Hillis et al. 2005; Hillis 2008).

References
----------
Dorfman DD, Berbaum KS, Metz CE (1992). Receiver operating characteristic rating analysis:
generalization to the population of readers and patients with the jackknife method.
Invest Radiol 27:723-731.
Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the Dorfman-Berbaum-Metz
and Obuchowski-Rockette methods for receiver operating characteristic (ROC) data. Stat Med 24:1579-1607.
Hillis SL, Berbaum KS, Metz CE (2008). Recent developments in the Dorfman-Berbaum-Metz procedure for
multireader ROC study analysis. Acad Radiol 15:647-661.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .covariance import leave_one_out_values
from .fom import FigureOfMerit


@dataclass(frozen=True)
class DbmDifference:
    """A difference of treatment means (first minus second, in the order of the ratings' treatments)."""

    treatments: tuple[int, int]
    estimate: float
    se: float
    df: float
    ci: tuple[float, float]
    p: float


@dataclass(frozen=True)
class DbmResult:
    """Mean squares (with df) of the pseudovalue ANOVA, DBM variance components, the RRRC F test and
    differences, and the fixed-reader (FRRC: error MS(T×C)) and fixed-case (RRFC: error MS(T×R)) F tests."""

    mean_squares: dict[str, float]
    df: dict[str, int]
    var_components: dict[str, float]
    f: float
    df1: int
    df2: float
    p: float
    denominator: float
    differences: tuple[DbmDifference, ...]
    frrc: dict[str, float]
    rrfc: dict[str, float]


def pseudovalues(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Normalized jackknife pseudovalues, shaped (T, R, cases) in the leave-one-out case order."""
    n_t, n_r, n_cases = ratings.shape
    left_out = leave_one_out_values(fom, ratings, truth).reshape(n_t, n_r, n_cases)
    theta = fom.values(ratings, truth).reshape(n_t, n_r, 1)
    raw = n_cases * theta - (n_cases - 1) * left_out
    return raw - raw.mean(axis=-1, keepdims=True) + theta


def dbm_analysis(fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, alpha: float = 0.05) -> DbmResult:
    """DBM analysis of a fully crossed study (ratings without NaN); readers and cases random unless named."""
    values = pseudovalues(fom, ratings, truth)
    mean_squares, df = _three_way_anova(values)
    n_t, n_r, n_c = values.shape
    ms = mean_squares
    components = {
        "var_R": (ms["R"] - ms["TR"] - ms["RC"] + ms["TRC"]) / (n_t * n_c),
        "var_C": (ms["C"] - ms["TC"] - ms["RC"] + ms["TRC"]) / (n_t * n_r),
        "var_TR": (ms["TR"] - ms["TRC"]) / n_c,
        "var_TC": (ms["TC"] - ms["TRC"]) / n_r,
        "var_RC": (ms["RC"] - ms["TRC"]) / n_t,
        "var_TRC_error": ms["TRC"],
    }
    # Hillis (2008): MS(T*R) + max(MS(T*C) - MS(T*R*C), 0), df by Satterthwaite on MS(T*R) alone.
    denominator = ms["TR"] + max(ms["TC"] - ms["TRC"], 0.0)
    df2 = denominator**2 / (ms["TR"] ** 2 / df["TR"])
    f = ms["T"] / denominator
    means = values.mean(axis=(1, 2))
    # Hillis (2008): the difference's SE is sqrt(2 / (r c) * error term), with the F test's df
    se = float(np.sqrt(2 / (n_r * n_c) * denominator))
    quantile = stats.t.ppf(1 - alpha / 2, df2)
    differences = tuple(
        DbmDifference((i, j), float(means[i] - means[j]), se, float(df2),
                      (float(means[i] - means[j] - quantile * se), float(means[i] - means[j] + quantile * se)),
                      float(2 * stats.t.sf(abs(means[i] - means[j]) / se, df2)))
        for i in range(n_t) for j in range(i + 1, n_t)
    )
    return DbmResult(mean_squares, df, components, float(f), df["T"], float(df2),
                     float(stats.f.sf(f, df["T"], df2)), float(denominator), differences,
                     _f_test(ms["T"], ms["TC"], df["T"], df["TC"]), _f_test(ms["T"], ms["TR"], df["T"], df["TR"]))


def _f_test(numerator: float, denominator: float, df1: int, df2: int) -> dict[str, float]:
    f = numerator / denominator
    return {"f": float(f), "df1": df1, "df2": df2, "p": float(stats.f.sf(f, df1, df2)), "denominator": denominator}


def _three_way_anova(values: np.ndarray) -> tuple[dict[str, float], dict[str, int]]:
    """Mean squares of a three-way layout without replication (each cell one pseudovalue)."""
    n_t, n_r, n_c = values.shape
    grand = values.mean()
    t = values.mean(axis=(1, 2), keepdims=True)
    r = values.mean(axis=(0, 2), keepdims=True)
    c = values.mean(axis=(0, 1), keepdims=True)
    tr = values.mean(axis=2, keepdims=True)
    tc = values.mean(axis=1, keepdims=True)
    rc = values.mean(axis=0, keepdims=True)
    sums = {
        "T": n_r * n_c * ((t - grand) ** 2).sum(),
        "R": n_t * n_c * ((r - grand) ** 2).sum(),
        "C": n_t * n_r * ((c - grand) ** 2).sum(),
        "TR": n_c * ((tr - t - r + grand) ** 2).sum(),
        "TC": n_r * ((tc - t - c + grand) ** 2).sum(),
        "RC": n_t * ((rc - r - c + grand) ** 2).sum(),
        "TRC": ((values - tr - tc - rc + t + r + c - grand) ** 2).sum(),
    }
    df = {"T": n_t - 1, "R": n_r - 1, "C": n_c - 1, "TR": (n_t - 1) * (n_r - 1), "TC": (n_t - 1) * (n_c - 1),
          "RC": (n_r - 1) * (n_c - 1), "TRC": (n_t - 1) * (n_r - 1) * (n_c - 1)}
    return {name: float(sums[name] / df[name]) for name in sums}, df
