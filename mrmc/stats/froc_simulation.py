"""Simulated FROC studies under the null hypothesis, for type I error checks and benchmarks.

The model (a binormal search model in the spirit of Chakraborty's radiological search model,
with the case and reader effects of Roe & Metz so that the OR variance components are all
present) is, for every study independently:

- each case holds ``Poisson(nl_rate)`` (at most ``max_nl``) suspicious non-lesion sites and each
  diseased case 1..``max_lesions`` lesions (counts drawn once per seed, shared by all studies, so
  the lesion weights are one array); every site and lesion has a latent case value
  ``c ~ N(0, case_sd^2)`` shared by all readers and treatments;
- reader j reads a site as ``c + e`` and a lesion as ``separation + a_j + g_tj + c + e``, with
  reader skill ``a_j ~ N(0, reader_sd^2)``, reader x treatment term ``g_tj ~ N(0, reader_treatment_sd^2)``
  and reading noise ``e ~ N(0, noise_sd^2)`` independent per treatment, reader and site;
- a site or lesion is marked, with that rating, when it exceeds the reader's threshold
  ``threshold + N(0, threshold_sd^2)``; otherwise it is unmarked (-inf).

Treatments have identical distributions, so every test of equal treatment means is under its null,
unless ``treatment_effect`` adds to the lesions' separation in every treatment after the first
(for power, :mod:`mrmc.stats.power_sim`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .froc_data import UNMARKED, FrocStudy


@dataclass(frozen=True)
class FrocNullModel:
    separation: float = 1.0
    case_sd: float = 0.7
    reader_sd: float = 0.3
    reader_treatment_sd: float = 0.3
    noise_sd: float = 0.7
    threshold: float = 0.3
    threshold_sd: float = 0.3
    nl_rate: float = 1.0
    max_nl: int = 3
    max_lesions: int = 2


@dataclass(frozen=True)
class SimulatedFroc:
    """Ratings of ``n_studies`` studies: ``nl`` (S, T, R, K, max_nl) and ``ll`` (S, T, R, K2, max_lesions)."""

    nl: np.ndarray
    ll: np.ndarray
    weights: np.ndarray
    lesion_mask: np.ndarray
    n_normal: int

    def study(self, index: int = 0) -> FrocStudy:
        """One simulated study as a :class:`FrocStudy` (readers R1.., treatments T1.., cases C1..)."""
        _, n_t, n_r, n_cases, _ = self.nl.shape
        return FrocStudy(
            nl=self.nl[index],
            ll=self.ll[index],
            weights=self.weights,
            lesion_ids=np.where(self.lesion_mask, np.cumsum(self.lesion_mask, axis=1), 0),
            treatments=tuple(f"T{t}" for t in range(1, n_t + 1)),
            readers=tuple(f"R{r}" for r in range(1, n_r + 1)),
            cases=tuple(f"C{k}" for k in range(1, n_cases + 1)),
            n_normal=self.n_normal,
        )


def simulate_froc_null(
    *,
    n_studies: int,
    n_readers: int,
    n_normal: int,
    n_diseased: int,
    n_treatments: int = 2,
    model: FrocNullModel | None = None,
    seed: int | np.random.Generator | None = None,
    treatment_effect: float = 0.0,
) -> SimulatedFroc:
    """Simulate ``n_studies`` independent FROC studies, null unless ``treatment_effect`` (see the module docstring)."""
    model = model or FrocNullModel()
    rng = np.random.default_rng(seed)
    n_cases = n_normal + n_diseased
    lesion_counts = rng.integers(1, model.max_lesions + 1, size=n_diseased)
    lesion_mask = np.arange(model.max_lesions) < lesion_counts[:, None]
    weights = lesion_mask / lesion_counts[:, None]
    studies_readers = (n_studies, 1, n_readers, 1, 1)
    thresholds = model.threshold + model.threshold_sd * rng.standard_normal(studies_readers)
    reading_shape = (n_studies, n_treatments, n_readers)

    sites = np.minimum(rng.poisson(model.nl_rate, size=(n_studies, 1, 1, n_cases)), model.max_nl)
    site_exists = np.arange(model.max_nl) < sites[..., None]
    site_values = model.case_sd * rng.standard_normal((n_studies, 1, 1, n_cases, model.max_nl))
    nl = site_values + model.noise_sd * rng.standard_normal((*reading_shape, n_cases, model.max_nl))
    nl = np.where(site_exists & (nl > thresholds), nl, UNMARKED)

    skill = model.reader_sd * rng.standard_normal(studies_readers)
    interaction = model.reader_treatment_sd * rng.standard_normal((*reading_shape, 1, 1))
    lesion_values = model.case_sd * rng.standard_normal((n_studies, 1, 1, n_diseased, model.max_lesions))
    noise = model.noise_sd * rng.standard_normal((*reading_shape, n_diseased, model.max_lesions))
    separations = model.separation + treatment_effect * (np.arange(n_treatments) > 0)
    ll = separations[:, None, None, None] + skill + interaction + lesion_values + noise
    ll = np.where(lesion_mask & (ll > thresholds), ll, UNMARKED)
    return SimulatedFroc(nl=nl, ll=ll, weights=weights, lesion_mask=lesion_mask, n_normal=n_normal)
