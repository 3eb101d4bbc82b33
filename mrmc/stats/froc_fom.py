"""Figures of merit of FROC data (wAFROC, AFROC, HrAuc), their leave-one-case-out values and jackknife covariance.

With psi(x, y) = 1 if y > x, 1/2 if y = x (two unmarked -inf ratings tie), 0 otherwise:

- AFROC: mean over (non-diseased case, lesion) pairs of psi(highest NL rating on the
  non-diseased case, rating of the lesion);
- wAFROC: (1 / (K1 K2)) sum over non-diseased k1, diseased k2 and lesions l of k2 of
  weight(l) psi(FP_k1, LL_l);
- HrAuc: the Wilcoxon AUC of each case's highest rating of any mark (NL marks on
  diseased cases enter only here).

All three are ``S / (K1 W)`` with ``S`` the weighted kernel sum over (non-diseased case,
lesion) pairs and ``W`` the total lesion weight (K2 for wAFROC, the number of lesions
for AFROC, K2 one-"lesion" cases for HrAuc). Leaving a case out removes its row or
column of kernel sums and, for a diseased case, its weight, so every leave-one-out value
comes from the row and column sums in one vectorized pass.

References
----------
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging: Foundations,
Modeling, and Applications with R-Based Examples. CRC Press.
Chakraborty DP, Berbaum KS (2004). Observer studies involving detection and localization:
modeling, analysis, and validation. Medical Physics 31:2313-2330.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import leave_one_out_covariance
from .froc_data import FrocStudy

FROC_FOMS = ("wafroc", "afroc", "hrauc")
FOM_LABELS = {
    "wafroc": "wAFROC (weighted AFROC figure of merit)",
    "afroc": "AFROC figure of merit",
    "hrauc": "HrAuc (ROC AUC of each case's highest-rated mark)",
}
_CHUNK_ELEMENTS = 1 << 22  # bound on kernel elements held at once


@dataclass(frozen=True)
class FrocFigureOfMerit:
    """The figure of merit of a FROC analysis (``kind`` and ``label`` as in ROC results)."""

    kind: str

    def __post_init__(self) -> None:
        if self.kind not in FROC_FOMS:
            raise ValueError(f"unknown FROC figure of merit {self.kind!r}; choose one of {', '.join(FROC_FOMS)}")

    @property
    def label(self) -> str:
        return FOM_LABELS[self.kind]


@dataclass(frozen=True)
class FrocRatings:
    """What one figure of merit compares: ratings of non-diseased cases against weighted lesions.

    ``normal`` is (..., K1), ``lesions`` (..., K2, M), ``weights`` (K2, M); leading axes are
    (study..., treatment, reader).
    """

    normal: np.ndarray
    lesions: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(
        cls, fom: str, nl: np.ndarray, ll: np.ndarray, weights: np.ndarray, lesion_mask: np.ndarray, n_normal: int
    ) -> FrocRatings:
        """From RJafroc-shaped ``nl`` (..., K, max NL) and ``ll`` (..., K2, max lesions).

        ``weights`` are the wAFROC weights and ``lesion_mask`` marks the real lesions, both (K2, max lesions).
        """
        FrocFigureOfMerit(fom)  # refuses an unknown kind
        highest_nl = nl.max(axis=-1)
        normal = highest_nl[..., :n_normal]
        if fom == "hrauc":
            highest = np.maximum(highest_nl[..., n_normal:], ll.max(axis=-1))
            return cls(normal, highest[..., None], np.ones((highest.shape[-1], 1)))
        return cls(normal, ll, weights if fom == "wafroc" else lesion_mask.astype(float))

    @classmethod
    def of_study(cls, fom: str, study: FrocStudy) -> FrocRatings:
        return cls.of(fom, study.nl, study.ll, study.weights, study.lesion_mask, study.n_normal)

    def kernel_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted kernel sums per non-diseased case (..., K1) and per diseased case (..., K2)."""
        lead = self.normal.shape[:-1]
        normal = self.normal.reshape(-1, self.normal.shape[-1])
        lesions = self.lesions.reshape(-1, *self.lesions.shape[-2:])
        per_item = normal.shape[1] * lesions.shape[1] * lesions.shape[2]
        step = max(1, _CHUNK_ELEMENTS // max(per_item, 1))
        rows, columns = [], []
        for start in range(0, normal.shape[0], step):
            x = normal[start : start + step, :, None, None]
            y = lesions[start : start + step, None, :, :]
            psi = (y > x) + 0.5 * (y == x)
            weighted = np.einsum("nijm,jm->nij", psi, self.weights)
            rows.append(weighted.sum(axis=2))
            columns.append(weighted.sum(axis=1))
        return np.concatenate(rows).reshape(*lead, -1), np.concatenate(columns).reshape(*lead, -1)

    def values_and_left_out(self) -> tuple[np.ndarray, np.ndarray]:
        """The figure of merit (...) and its value with each case left out (..., K1 + K2).

        Notes
        -----
        With kernel sums S, row sums s_k1, column sums s_k2, case weights W_k2 and W = sum W_k2:
        theta = S / (K1 W); without non-diseased k1, (S - s_k1) / ((K1 - 1) W); without
        diseased k2, (S - s_k2) / (K1 (W - W_k2)). Cases are non-diseased first.
        """
        rows, columns = self.kernel_sums()
        n_normal = rows.shape[-1]
        case_weights = self.weights.sum(axis=-1)
        total_weight = case_weights.sum()
        total = rows.sum(axis=-1, keepdims=True)
        without_normal = (total - rows) / ((n_normal - 1) * total_weight)
        without_diseased = (total - columns) / (n_normal * (total_weight - case_weights))
        return total[..., 0] / (n_normal * total_weight), np.concatenate([without_normal, without_diseased], axis=-1)

    def values_and_covariance(self) -> tuple[np.ndarray, np.ndarray]:
        """The figure of merit (..., T, R) and its jackknife covariance over cases (..., T*R, T*R), over the
        flattened (treatment, reader) index as :mod:`mrmc.stats.or_analysis` takes it; the jackknife of ROC
        figures of merit (:func:`mrmc.stats.covariance.leave_one_out_covariance`), leaving out one case of
        either class as RJafroc does."""
        theta, left_out = self.values_and_left_out()
        return theta, leave_one_out_covariance(left_out.reshape(*left_out.shape[:-3], -1, left_out.shape[-1]))
