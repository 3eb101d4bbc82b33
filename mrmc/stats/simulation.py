"""Roe & Metz (1997) simulation of MRMC rating data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RoeMetzStructure:
    """Variance components of the latent decision variable (each truth class sums to 1).

    ``mu`` separates the diseased from the non-diseased mean; AUC = Phi(mu / sqrt(2)).
    """

    var_R: float
    var_TR: float
    var_C: float
    var_TC: float
    var_RC: float
    var_error: float
    mu: float


def _structures() -> dict[str, RoeMetzStructure]:
    # Roe & Metz (1997), Table 1: data correlation H(igh)/L(ow) (case-driven) by reader
    # variability H/L; suffix 1, 2, 3 = AUC 0.702, 0.855, 0.962.
    case_terms = {"H": (0.3, 0.3, 0.2, 0.2), "L": (0.1, 0.1, 0.2, 0.6)}
    reader_terms = {"L": (0.0055, 0.0055, 0.0055), "H": (0.011, 0.03, 0.056)}
    separations = (0.75, 1.5, 2.5)
    table = {}
    for data_level, (var_c, var_tc, var_rc, var_e) in case_terms.items():
        for reader_level, reader_vars in reader_terms.items():
            for level, (var_r, mu) in enumerate(zip(reader_vars, separations, strict=True), start=1):
                table[f"{data_level}{reader_level}{level}"] = RoeMetzStructure(
                    var_R=var_r, var_TR=var_r, var_C=var_c, var_TC=var_tc, var_RC=var_rc, var_error=var_e, mu=mu
                )
    return table


ROE_METZ_STRUCTURES: dict[str, RoeMetzStructure] = _structures()


def simulate_roe_metz(
    *,
    n_readers: int,
    n_normal: int,
    n_abnormal: int,
    structure: str | RoeMetzStructure = "HL2",
    n_treatments: int = 2,
    treatment_effect: float = 0.0,
    n_studies: int | None = None,
    seed: int | None = None,
    split_plot_groups: int | None = None,
    missing_fraction: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate continuous ratings from the Roe & Metz model.

    Parameters
    ----------
    structure : str or RoeMetzStructure
        One of :data:`ROE_METZ_STRUCTURES` (e.g. ``'HL2'``) or explicit components.
    treatment_effect : float
        Shift of the diseased mean in every treatment after the first (0 = null).
    n_studies : int, optional
        Simulate this many independent studies at once (leading axis).
    seed : int, optional
    split_plot_groups : int, optional
        Split-plot design: readers in this many groups of consecutive readers, each
        reading its own block of consecutive cases of each class in every treatment
        (:func:`split_plot_reads`); the other reads are NaN.
    missing_fraction : float
        Fraction of the remaining reads made missing (NaN), drawn at random once: every
        study of the call shares the pattern.

    Returns
    -------
    ratings : ndarray, shape ([n_studies,] n_treatments, n_readers, n_cases)
        Non-diseased cases first; NaN where a read does not exist.
    truth : ndarray of bool, shape (n_cases,)

    Notes
    -----
    Rating = mu_t * D + R + C + TR + TC + RC + E with independent normal effects,
    drawn separately for the non-diseased and diseased populations.

    References
    ----------
    Roe CA, Metz CE (1997). Dorfman-Berbaum-Metz method for statistical analysis of
    multireader, multimodality receiver operating characteristic data: validation with
    computer simulation. Academic Radiology 4:298-303.
    """
    spec = ROE_METZ_STRUCTURES[structure] if isinstance(structure, str) else structure
    rng = np.random.default_rng(seed)
    batch = () if n_studies is None else (n_studies,)
    diseased_means = spec.mu + treatment_effect * (np.arange(n_treatments) > 0)
    classes = []
    for n_cases, means in ((n_normal, np.zeros(n_treatments)), (n_abnormal, diseased_means)):
        # effect name: (variance, shape over treatment x reader x case)
        effects = {
            "R": (spec.var_R, (1, n_readers, 1)),
            "TR": (spec.var_TR, (n_treatments, n_readers, 1)),
            "C": (spec.var_C, (1, 1, n_cases)),
            "TC": (spec.var_TC, (n_treatments, 1, n_cases)),
            "RC": (spec.var_RC, (1, n_readers, n_cases)),
            "E": (spec.var_error, (n_treatments, n_readers, n_cases)),
        }
        ratings = np.broadcast_to(means[:, None, None], batch + (n_treatments, n_readers, n_cases)).copy()
        for variance, shape in effects.values():
            ratings += np.sqrt(variance) * rng.standard_normal(batch + shape)
        classes.append(ratings)
    truth = np.r_[np.zeros(n_normal, dtype=bool), np.ones(n_abnormal, dtype=bool)]
    ratings = np.concatenate(classes, axis=-1)
    read = np.ones(ratings.shape[-3:], dtype=bool)
    if split_plot_groups is not None:
        read &= split_plot_reads(n_treatments, n_readers, truth, split_plot_groups)
    if missing_fraction:
        read &= rng.random(read.shape) >= missing_fraction
    return np.where(read, ratings, np.nan), truth


def split_plot_reads(n_treatments: int, n_readers: int, truth: np.ndarray, n_groups: int) -> np.ndarray:
    """Reads of a split-plot design, ``read[treatment, reader, case]``.

    Readers and the cases of each truth class are cut into ``n_groups`` runs of
    consecutive indices as even as possible; reader group g reads case block g.

    References
    ----------
    Obuchowski NA, Gallas BD, Hillis SL (2012). Multi-reader ROC studies with split-plot
    designs: a comparison of statistical methods. Academic Radiology 19:1508-1517.
    """
    if not 1 <= n_groups <= min(n_readers, np.count_nonzero(truth), np.count_nonzero(~truth)):
        raise ValueError(f"{n_groups} split-plot groups need at least that many readers and cases of each class")
    reader_group = np.arange(n_readers) * n_groups // n_readers
    case_block = np.empty(truth.size, dtype=int)
    for members in (np.flatnonzero(~truth), np.flatnonzero(truth)):
        case_block[members] = np.arange(members.size) * n_groups // members.size
    return np.broadcast_to(reader_group[:, None] == case_block[None, :], (n_treatments, n_readers, truth.size))
