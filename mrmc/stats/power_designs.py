"""Simulated studies of each planned design and the p-values of the test each would be analysed with.

One function per design, vectorized over studies: it draws ``n_studies`` studies from its
model with the generator it is given and returns their p-values (NaN where a study's test is
undefined). :mod:`mrmc.stats.power_sim` turns them into power.

- ``fully_crossed`` and ``split_plot``: the Roe & Metz model of
  :func:`mrmc.stats.simulation.simulate_roe_metz` (a split-plot design in ``n_groups`` reader
  groups each reading its own block of cases, and reads missing at random); the OR RRRC test of
  the two treatments' AUCs over the reads that exist (jackknife, Hillis ddf), as
  :func:`mrmc.stats.analyze` analyses such a study.
- ``ai_vs_readers``: the readers in one treatment of the Roe & Metz model and the AI as one more
  reader without reader variability: its ratings are mu_AI D + C + F + E with the readers'
  case effect C (var_C), its own case effect F (var_TC + var_RC) and error E (var_error), so its
  AUC is Phi(mu_AI / sqrt(2 s)) (s: the case variance per class); the 1T-RRRC test of the mean
  reader - AI AUC (:func:`mrmc.stats.standalone.reader_minus_ai_test`, jackknife covariance).
- ``froc``: the binormal search model of :mod:`mrmc.stats.froc_simulation` with the lesions'
  separation raised by ``treatment_effect`` in the second treatment; the FROC OR RRRC test of
  the chosen figure of merit (jackknife pseudovalues), as :func:`mrmc.stats.analyze_froc`.

References
----------
Roe CA, Metz CE (1997). Academic Radiology 4:298-303.
Hillis SL (2007). Statistics in Medicine 26:596-619 (RRRC, and 1T-RRRC in sec. 5.3).
Chakraborty DP (2017). Observer Performance Methods for Diagnostic Imaging. CRC Press.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .covariance import jackknife_covariance
from .design_covariance import design_values_and_jackknife
from .fom import FigureOfMerit, auc
from .froc_fom import FrocRatings
from .froc_simulation import FrocNullModel, simulate_froc_null
from .or_analysis import rrrc_test
from .roe_metz_params import RoeMetzModel
from .simulation import simulate_roe_metz
from .standalone import reader_minus_ai_test

AUC = FigureOfMerit("auc")


def roc_two_treatment_p_values(
    model: RoeMetzModel,
    rng: np.random.Generator,
    n_studies: int,
    *,
    n_readers: int,
    n_normal: int,
    n_abnormal: int,
    n_groups: int | None = None,
    missing_fraction: float = 0.0,
) -> np.ndarray:
    """RRRC p-values of two-treatment ROC studies, fully crossed or split-plot, with reads missing at random."""
    ratings, truth = simulate_roe_metz(
        n_readers=n_readers,
        n_normal=n_normal,
        n_abnormal=n_abnormal,
        structure=model.structure,
        treatment_effect=model.treatment_effect,
        n_studies=n_studies,
        seed=rng,
        split_plot_groups=n_groups,
        missing_fraction=missing_fraction,
    )
    theta, cov = design_values_and_jackknife(AUC, ratings, truth, ~np.isnan(ratings[0]))
    return rrrc_test(theta, cov).p


def ai_separation(model: RoeMetzModel, ai_auc: float) -> float:
    """The AI's separation mu_AI giving it AUC ``ai_auc`` under ``model``'s case variance."""
    rm = model.structure
    return float(special.ndtri(ai_auc) * np.sqrt(2 * (rm.var_C + rm.var_TC + rm.var_RC + rm.var_error)))


def readers_mean_auc(model: RoeMetzModel) -> float:
    """The reader population's mean AUC in the first treatment: Phi(mu / sqrt(2 s + 2 var_R + 2 var_TR))."""
    rm = model.structure
    total = 2 * (rm.var_C + rm.var_TC + rm.var_RC + rm.var_error + rm.var_R + rm.var_TR)
    return float(special.ndtr(rm.mu / np.sqrt(total)))


def ai_versus_readers_p_values(
    model: RoeMetzModel,
    rng: np.random.Generator,
    n_studies: int,
    *,
    n_readers: int,
    n_normal: int,
    n_abnormal: int,
    ai_auc: float,
) -> np.ndarray:
    """1T-RRRC p-values of the readers' mean AUC minus the AI's (see the module docstring)."""
    rm = model.structure
    ai_mean = ai_separation(model, ai_auc)
    classes = []
    for n_cases, reader_mean, ai_class_mean in ((n_normal, 0.0, 0.0), (n_abnormal, rm.mu, ai_mean)):

        def normal(variance: float, shape: tuple[int, ...]) -> np.ndarray:
            return np.sqrt(variance) * rng.standard_normal((n_studies, *shape))

        case = normal(rm.var_C, (1, n_cases))
        readers = (
            reader_mean
            + normal(rm.var_R + rm.var_TR, (n_readers, 1))
            + case
            + normal(rm.var_TC, (1, n_cases))
            + normal(rm.var_RC, (n_readers, n_cases))
            + normal(rm.var_error, (n_readers, n_cases))
        )
        ai = ai_class_mean + case + normal(rm.var_TC + rm.var_RC, (1, n_cases)) + normal(rm.var_error, (1, n_cases))
        classes.append(np.concatenate([readers, ai], axis=1))
    ratings = np.concatenate(classes, axis=-1)
    truth = np.r_[np.zeros(n_normal, dtype=bool), np.ones(n_abnormal, dtype=bool)]
    theta = auc(ratings, truth)
    covariance = jackknife_covariance(AUC, ratings[:, None], truth)
    to_differences = np.hstack([np.eye(n_readers), -np.ones((n_readers, 1))])
    differences = theta @ to_differences.T
    return reader_minus_ai_test(differences, to_differences @ covariance @ to_differences.T).p


def froc_p_values(
    model: FrocNullModel,
    rng: np.random.Generator,
    n_studies: int,
    *,
    n_readers: int,
    n_normal: int,
    n_abnormal: int,
    treatment_effect: float = 0.0,
    fom: str = "wafroc",
) -> np.ndarray:
    """FROC OR RRRC p-values of two-treatment studies (see the module docstring)."""
    simulated = simulate_froc_null(
        n_studies=n_studies,
        n_readers=n_readers,
        n_normal=n_normal,
        n_diseased=n_abnormal,
        model=model,
        seed=rng,
        treatment_effect=treatment_effect,
    )
    ratings = FrocRatings.of(fom, simulated.nl, simulated.ll, simulated.weights, simulated.lesion_mask, n_normal)
    return rrrc_test(*ratings.values_and_covariance()).p
