"""Type I error of the RRRC test for split-plot studies and studies with missing reads.

Null studies from the Roe & Metz (1997) model, thinned to a split-plot design (and with reads
missing at random); the OR analysis over the reads that exist (MRMCaov's jackknife, Hillis ddf)
must reject at alpha = 0.05 in 4-6% of them. The studies share one design, so they are analysed
at once by the same functions :func:`mrmc.stats.analyze` uses.
"""

from __future__ import annotations

import numpy as np
import pytest

from mrmc.stats import analyze, simulate_roe_metz
from mrmc.stats.design_covariance import design_values_and_jackknife
from mrmc.stats.fom import FigureOfMerit
from mrmc.stats.or_analysis import rrrc_test

N_STUDIES = 4000


def test_simulated_split_plot_is_detected_as_such():
    ratings, truth = simulate_roe_metz(n_readers=6, n_normal=30, n_abnormal=30, split_plot_groups=3, seed=1)
    design = analyze(ratings, truth).design
    assert design.kind == "split_plot"
    assert [block.readers for block in design.blocks] == [("1", "2"), ("3", "4"), ("5", "6")]
    assert [(block.n_normal, block.n_abnormal) for block in design.blocks] == [(10, 10)] * 3


def test_missing_fraction_makes_reads_missing_in_one_pattern_for_all_studies():
    ratings, truth = simulate_roe_metz(
        n_readers=4, n_normal=50, n_abnormal=50, n_studies=3, missing_fraction=0.1, seed=2
    )
    missing = np.isnan(ratings)
    assert (missing == missing[0]).all()
    assert 0.05 < missing[0].mean() < 0.15


@pytest.mark.slow
@pytest.mark.parametrize(
    "structure, groups, missing_fraction, seed",
    [("HL1", 2, 0.0, 20250101), ("HL2", 3, 0.03, 20250102)],
)
def test_rrrc_type_i_error_of_split_plot_studies(structure, groups, missing_fraction, seed):
    ratings, truth = simulate_roe_metz(
        n_readers=6,
        n_normal=60,
        n_abnormal=60,
        structure=structure,
        n_studies=N_STUDIES,
        seed=seed,
        split_plot_groups=groups,
        missing_fraction=missing_fraction,
    )
    read = ~np.isnan(ratings[0])
    theta, cov = design_values_and_jackknife(FigureOfMerit("auc"), ratings, truth, read)
    rejection_rate = np.mean(rrrc_test(theta, cov).p < 0.05)
    assert 0.04 <= rejection_rate <= 0.06
