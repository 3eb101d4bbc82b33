"""Obuchowski-Rockette parameters of a Roe & Metz model, and a Roe & Metz model for given OR parameters.

The Roe & Metz (RM) model of :func:`mrmc.stats.simulation.simulate_roe_metz` (equal-variance,
effects drawn independently for the non-diseased and the diseased) implies the OR parameters of
the empirical AUC exactly: each is a bivariate normal probability (Hillis 2018). This module
computes them (:func:`or_parameters_of_roe_metz`) and inverts the relation
(:func:`roe_metz_from_or`): given the treatments' AUCs, the OR reader variances var_R and var_TR
and the error correlations r1, r2, r3 (Cov_k / Var) of a pilot or of a conjecture, it finds the
RM variance components (case components summing to 1) and the separations, as Hillis (2020)
does for the equal-variance model.

Notation: s = var_C + var_TC + var_RC + var_error (per truth class), v = 2 (var_R + var_TR) (the
variance of a reader's separation), Delta_i = mu + treatment_effect [i > 0]. A random
(diseased, non-diseased) pair read by reader j in treatment i differs by N(delta_ij, 2 s) with
delta_ij ~ N(Delta_i, v), so the reader's true AUC is Phi(delta_ij / sqrt(2 s)) and the mean
over readers Phi(Delta_i / sqrt(2 s + v)).

References
----------
Roe CA, Metz CE (1997). Dorfman-Berbaum-Metz method for statistical analysis of multireader,
multimodality receiver operating characteristic data: validation with computer simulation.
Academic Radiology 4:298-303.
Hillis SL (2018). Relationship between Roe and Metz simulation model for multireader diagnostic
data and Obuchowski-Rockette model parameters. Statistics in Medicine 37:2067-2093.
Hillis SL (2020). Determining Roe and Metz model parameters for simulating multireader
multicase confidence-of-disease rating data based on real-data or conjectured
Obuchowski-Rockette parameter estimates. Journal of Medical Imaging 7(5):056501.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from .simulation import RoeMetzStructure

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


def bivariate_normal_cdf(h: float, k: float, rho: float) -> float:
    """P(Z1 < h, Z2 < k) for standard normals with correlation ``rho`` in [-1, 1].

    Notes
    -----
    Phi2 = Phi(h) Phi(k) + (1 / 2 pi) int_0^asin(rho) exp(-(h^2 + k^2 - 2 h k sin t) / (2 cos^2 t)) dt
    (Sheppard's formula in Drezner & Wesolowsky's form), whose integrand stays bounded up to
    rho = 1; Gauss-Legendre quadrature with 48 nodes.

    References
    ----------
    Drezner Z, Wesolowsky GO (1990). On the computation of the bivariate normal integral.
    Journal of Statistical Computation and Simulation 35:101-107.
    """
    upper = np.arcsin(np.clip(rho, -1.0, 1.0))
    angles = upper / 2 * (_NODES + 1)
    cos2 = np.maximum(np.cos(angles) ** 2, 1e-300)
    integrand = np.exp(-(h * h + k * k - 2 * h * k * np.sin(angles)) / (2 * cos2))
    return float(special.ndtr(h) * special.ndtr(k) + upper / 2 * (_WEIGHTS @ integrand) / (2 * np.pi))


@dataclass(frozen=True)
class ORParameters:
    """OR parameters of the empirical AUC for a study with ``n_normal`` + ``n_abnormal`` cases."""

    auc: tuple[float, float]
    var_R: float
    var_TR: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    n_normal: int
    n_abnormal: int

    @property
    def correlations(self) -> tuple[float, float, float]:
        """r1, r2, r3 = Cov1 / Var, Cov2 / Var, Cov3 / Var."""
        return self.cov1 / self.var_error, self.cov2 / self.var_error, self.cov3 / self.var_error


@dataclass(frozen=True)
class RoeMetzModel:
    """An RM structure (``structure.mu`` separates the classes in the first treatment) and the
    shift of the diseased mean in the second treatment."""

    structure: RoeMetzStructure
    treatment_effect: float = 0.0


def or_parameters_of_roe_metz(model: RoeMetzModel, *, n_normal: int, n_abnormal: int) -> ORParameters:
    """The OR parameters of the empirical AUC implied by an RM model (two treatments).

    Notes
    -----
    Conditional on the reader effects, the Mann-Whitney AUCs of cells x, y have covariance
    [P(both pairs above | same cases) - A_x A_y + (n0 + n1 - 2)(P(...| one case shared) - A_x A_y)] / (n0 n1)
    (Hoeffding's decomposition); averaged over readers each term is a bivariate normal
    probability at Delta_i / sqrt(2 s + v) with correlation (shared case variance + shared
    reader variance) / (2 s + v). The case variance two cells share per class is s for the
    same cell, var_C + var_RC for the same reader (Cov1), var_C + var_TC for the same
    treatment (Cov2) and var_C otherwise (Cov3); the reader variance 2 (var_R + var_TR),
    2 var_R or 0. var_R is the covariance of one reader's true AUCs in the two treatments and
    var_TR their mean variance minus var_R; Var and Cov2 are averaged over treatments.
    """
    rm = model.structure
    case_total = rm.var_C + rm.var_TC + rm.var_RC + rm.var_error
    total = 2 * case_total + 2 * (rm.var_R + rm.var_TR)
    heights = np.array([rm.mu, rm.mu + model.treatment_effect]) / np.sqrt(total)
    aucs = special.ndtr(heights)

    def joint(i: int, k: int, shared: float) -> float:
        return bivariate_normal_cdf(heights[i], heights[k], shared / total)

    def error_cov(i: int, k: int, case_shared: float, reader_shared: float) -> float:
        products = joint(i, k, reader_shared)
        same_pair = joint(i, k, 2 * case_shared + reader_shared)
        one_case = joint(i, k, case_shared + reader_shared)
        return (same_pair - products + (n_normal + n_abnormal - 2) * (one_case - products)) / (n_normal * n_abnormal)

    own_reader, same_reader = 2 * (rm.var_R + rm.var_TR), 2 * rm.var_R
    var_r = joint(0, 1, same_reader) - aucs[0] * aucs[1]
    mean_variance = np.mean([joint(i, i, own_reader) - aucs[i] ** 2 for i in (0, 1)])
    return ORParameters(
        auc=(float(aucs[0]), float(aucs[1])),
        var_R=float(var_r),
        var_TR=float(mean_variance - var_r),
        var_error=float(np.mean([error_cov(i, i, case_total, own_reader) for i in (0, 1)])),
        cov1=error_cov(0, 1, rm.var_C + rm.var_RC, same_reader),
        cov2=float(np.mean([error_cov(i, i, rm.var_C + rm.var_TC, 0.0) for i in (0, 1)])),
        cov3=error_cov(0, 1, rm.var_C, 0.0),
        n_normal=n_normal,
        n_abnormal=n_abnormal,
    )


@dataclass(frozen=True)
class RoeMetzFit:
    """The RM model found for the target OR parameters and the OR parameters it implies
    (``implied``: compare with the target; its ``var_error`` is what the model gives, which
    the target's correlations do not fix)."""

    model: RoeMetzModel
    implied: ORParameters
    max_residual: float


def roe_metz_from_or(
    *,
    auc: tuple[float, float],
    var_R: float,
    var_TR: float,
    correlations: tuple[float, float, float],
    n_normal: int,
    n_abnormal: int,
) -> RoeMetzFit:
    """An equal-variance RM model whose OR parameters are the given ones (Hillis 2018, 2020).

    Parameters
    ----------
    auc : (float, float)
        Reader-averaged AUC in each treatment.
    var_R, var_TR : float
        OR reader and treatment x reader variances (negative values are taken as 0).
    correlations : (float, float, float)
        r1, r2, r3: the OR error covariances Cov1, Cov2, Cov3 divided by Var.
    n_normal, n_abnormal : int
        Cases of the study the correlations refer to (they depend on it slightly).

    Returns
    -------
    RoeMetzFit
        ``max_residual``: the largest misfit, in units of the correlations and of
        var_R + var_TR; near 0 when the target is attainable by the model (r3 <= r1, r2 and
        r1 + r2 - r3 <= 1 are necessary).

    Notes
    -----
    The case components are scaled to sum to 1 (the RM convention). For a trial
    (var_R, var_TR, var_C, var_TC, var_RC) the separations follow in closed form from the
    AUCs, mu = Phi^-1(AUC_1) sqrt(2 + v) and mu + effect = Phi^-1(AUC_2) sqrt(2 + v); the five
    components solve the five equations var_R, var_TR, r1, r2, r3 of
    :func:`or_parameters_of_roe_metz` (bounded least squares, var_error = 1 - the others >= 0).
    """
    targets = np.array([max(var_R, 0.0), max(var_TR, 0.0)])
    reader_scale = max(targets.sum(), 1e-6)
    r1, r2, r3 = correlations
    quantiles = special.ndtri(np.asarray(auc, dtype=float))

    def model_of(x: np.ndarray) -> RoeMetzModel:
        var_r, var_tr, var_c, var_tc, var_rc = map(float, x)
        spread = np.sqrt(2 + 2 * (var_r + var_tr))
        structure = RoeMetzStructure(
            var_R=var_r, var_TR=var_tr, var_C=var_c, var_TC=var_tc, var_RC=var_rc,
            var_error=max(1.0 - var_c - var_tc - var_rc, 0.0), mu=float(quantiles[0] * spread),
        )
        return RoeMetzModel(structure, treatment_effect=float((quantiles[1] - quantiles[0]) * spread))

    def residuals(x: np.ndarray) -> np.ndarray:
        implied = or_parameters_of_roe_metz(model_of(x), n_normal=n_normal, n_abnormal=n_abnormal)
        return np.r_[
            (np.array([implied.var_R, implied.var_TR]) - targets) / reader_scale,
            np.array(implied.correlations) - (r1, r2, r3),
            max(x[2:].sum() - 1.0, 0.0) * 10,  # the case components leave var_error >= 0
        ]

    phi = np.exp(-quantiles.mean() ** 2 / 2) / np.sqrt(2 * np.pi)
    reader_start = np.clip(targets / (2 * phi**2), 1e-6, 1.0)  # delta method: var_AUC ~ phi^2 2 var_R / 2
    case_start = np.clip([r3, r2 - r3, r1 - r3], 0.01, 0.9)
    start = np.r_[reader_start, case_start * min(1.0, 0.9 / case_start.sum())]
    solution = optimize.least_squares(residuals, start, bounds=(0.0, [5.0, 5.0, 1.0, 1.0, 1.0]), xtol=1e-12, ftol=1e-12)
    model = model_of(solution.x)
    return RoeMetzFit(
        model=model,
        implied=or_parameters_of_roe_metz(model, n_normal=n_normal, n_abnormal=n_abnormal),
        max_residual=float(np.max(np.abs(solution.fun))),
    )
