"""Type I error of the FROC OR RRRC test over simulated null studies (mrmc.stats.froc_simulation)."""

import numpy as np
import pytest

from mrmc.stats.froc_fom import FrocRatings
from mrmc.stats.froc_simulation import FrocNullModel, simulate_froc_null
from mrmc.stats.or_analysis import rrrc_test

N_STUDIES = 4000
CHUNK = 1000


def rrrc_p_values(fom: str, seed: int) -> np.ndarray:
    """RRRC p-values of N_STUDIES null studies (5 readers, 2 treatments, 50 + 50 cases), vectorized by chunk."""
    p_values = []
    for chunk in range(N_STUDIES // CHUNK):
        simulated = simulate_froc_null(n_studies=CHUNK, n_readers=5, n_normal=50, n_diseased=50, seed=[seed, chunk])
        ratings = FrocRatings.of(
            fom, simulated.nl, simulated.ll, simulated.weights, simulated.lesion_mask, simulated.n_normal
        )
        p_values.append(rrrc_test(*ratings.values_and_covariance()).p)
    return np.concatenate(p_values)


@pytest.mark.slow
@pytest.mark.parametrize(("fom", "seed"), [("wafroc", 13), ("afroc", 14), ("hrauc", 15)])
def test_rrrc_type_one_error(fom, seed):
    p = rrrc_p_values(fom, seed)
    assert p.size == N_STUDIES and not np.isnan(p).any()
    assert 0.04 <= np.mean(p < 0.05) <= 0.06


def test_simulated_null_studies_look_like_reader_studies():
    """The model gives FROC data with unmarked lesions, NL marks and figures of merit near 0.75."""
    simulated = simulate_froc_null(n_studies=200, n_readers=5, n_normal=50, n_diseased=50, seed=1)
    assert FrocNullModel().separation == 1.0
    assert 0.3 < np.isfinite(simulated.ll[..., simulated.lesion_mask]).mean() < 0.95
    assert 0.1 < np.isfinite(simulated.nl).any(axis=-1).mean() < 0.9
    theta, _ = FrocRatings.of_study("wafroc", simulated.study(0)).values_and_left_out()
    assert theta.shape == (2, 5) and 0.6 < theta.mean() < 0.9
