"""ANOVA mean squares and OR variance components of reader x treatment figures of merit.

The inputs of every generalization of the Obuchowski-Rockette analysis
(:mod:`mrmc.stats.or_analysis`): the two-way treatment x reader ANOVA of
``theta[treatment, reader]`` and the averages of its case-sampling covariance matrix
(Var, Cov1, Cov2, Cov3), overall, per treatment and per reader.

References
----------
Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for
multiple readers and multiple tests: an ANOVA approach with dependent observations.
Communications in Statistics - Simulation and Computation 24:285-308.
Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple
observer ROC analysis. Statistics in Medicine 26:596-619.
"""

from __future__ import annotations

import numpy as np

from .or_results import MeanSquares, VarianceComponents


def sums_of_squares(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    ss_t, ss_r, ss_tr = sums_of_squares(theta)
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
