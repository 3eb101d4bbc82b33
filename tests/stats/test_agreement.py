"""Fleiss' kappa and the ICC against published examples, statsmodels and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from mrmc.stats.agreement import fleiss_kappa, intraclass_correlation

# Fleiss (1971), Table 1 as reproduced widely: 10 subjects, 14 raters, 5 categories (counts per category).
FLEISS_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)
# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def decisions_from_counts(counts: np.ndarray) -> np.ndarray:
    """(readers, cases) category codes with the given counts per case."""
    return np.array([np.repeat(np.arange(counts.shape[1]), row) for row in counts]).T


def test_fleiss_worked_example():
    result = fleiss_kappa(decisions_from_counts(FLEISS_COUNTS))
    assert result.observed_agreement == pytest.approx(0.378, abs=5e-4)
    assert result.chance_agreement == pytest.approx(0.213, abs=5e-4)
    assert result.kappa == pytest.approx(0.210, abs=5e-4)


def test_fleiss_matches_statsmodels_on_binary_decisions():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=60)
    decisions = (latent[None, :] + rng.normal(scale=0.8, size=(5, 60)) > 0).astype(int)
    table = np.stack([(decisions == 0).sum(axis=0), (decisions == 1).sum(axis=0)], axis=1)
    assert fleiss_kappa(decisions).kappa == pytest.approx(sm_fleiss_kappa(table, method="fleiss"), rel=1e-12)


def test_perfect_and_chance_agreement():
    assert fleiss_kappa(np.array([[0, 1, 1, 0]] * 3)).kappa == pytest.approx(1.0)
    # two readers who always disagree on a balanced split: P_bar = 0, P_e = 1/2
    assert fleiss_kappa(np.array([[0, 1, 0, 1], [1, 0, 1, 0]])).kappa == pytest.approx(-1.0)


def test_fleiss_null_standard_error_matches_simulated_spread():
    rng = np.random.default_rng(7)
    kappas = [fleiss_kappa(rng.random((5, 200)) < 0.3).kappa for _ in range(1500)]
    se = fleiss_kappa(rng.random((5, 200)) < 0.3).se_null
    assert np.std(kappas) == pytest.approx(se, rel=0.1)


def test_icc_reproduces_shrout_fleiss_table():
    result = intraclass_correlation(SHROUT_FLEISS.T)
    assert result.ms_cases == pytest.approx(11.24, abs=0.01)
    assert result.ms_readers == pytest.approx(32.49, abs=0.01)
    assert result.ms_error == pytest.approx(1.02, abs=0.01)
    assert result.icc_agreement == pytest.approx(0.29, abs=0.005)
    assert result.icc_consistency == pytest.approx(0.71, abs=0.005)


def test_icc_mean_squares_match_statsmodels_anova():
    import pandas as pd
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(11)
    ratings = rng.normal(size=(4, 1)) + rng.normal(size=(1, 25)) + rng.normal(scale=0.5, size=(4, 25))
    frame = pd.DataFrame(
        {
            "y": ratings.ravel(),
            "reader": np.repeat(np.arange(4), 25).astype(str),
            "case": np.tile(np.arange(25), 4).astype(str),
        }
    )
    table = anova_lm(ols("y ~ C(case) + C(reader)", frame).fit())
    result = intraclass_correlation(ratings)
    assert result.ms_cases == pytest.approx(table.loc["C(case)", "mean_sq"], rel=1e-10)
    assert result.ms_readers == pytest.approx(table.loc["C(reader)", "mean_sq"], rel=1e-10)
    assert result.ms_error == pytest.approx(table.loc["Residual", "mean_sq"], rel=1e-10)


@pytest.mark.parametrize("kind", ["agreement", "consistency"])
def test_icc_intervals_cover_the_true_value(kind):
    """Two-way random model with case variance 1, reader variance 0.25, error 0.5."""
    rng = np.random.default_rng(5)
    true_icc = 1 / 1.75 if kind == "agreement" else 1 / 1.5
    covered = 0
    reps = 400
    for _ in range(reps):
        ratings = (
            rng.normal(scale=0.5, size=(4, 1)) + rng.normal(size=(1, 30)) + rng.normal(scale=0.5**0.5, size=(4, 30))
        )
        low, high = getattr(intraclass_correlation(ratings), f"ci_{kind}")
        covered += low <= true_icc <= high
    assert 0.91 <= covered / reps <= 0.99
