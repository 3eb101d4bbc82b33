"""Power and sample size from pilot variance components."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import PilotEstimates, analyze_study, cases_for_power, read_long_csv, sample_size_table, study_power

DATA = Path(__file__).parent / "data"


def pilot(dataset):
    study = read_long_csv(DATA / f"{dataset}.csv")
    components = analyze_study(study).analysis.var_components
    return PilotEstimates.from_components(components, study.truth.size)


@pytest.fixture(scope="module")
def vandyke_pilot():
    return pilot("vandyke")


# Expected powers from the RJafroc 2.x test suite (tests/testthat, "after updating Ss routines
# from Hillis 2011 and 2018 papers"; dataset02 = VanDyke, dataset03 = Franken, jackknife
# Wilcoxon AUC components), an independent implementation of Hillis, Obuchowski & Berbaum 2011.
RJAFROC_POWER = [
    ("vandyke", "rrrc", 0.043800322, 10, 165, 0.80541995),
    ("vandyke", "rrrc", 0.043800322, 6, 111, 0.5526116),
    ("vandyke", "frrc", 0.043800322, 10, 131, 0.80091813),
    ("vandyke", "rrfc", 0.043800322, 10, 53, 0.80496663),
    ("franken", "rrrc", 0.05, 6, 121, 0.8004469),
]


@pytest.mark.parametrize(("dataset", "generalization", "effect", "readers", "cases", "expected"), RJAFROC_POWER)
def test_power_matches_rjafroc(dataset, generalization, effect, readers, cases, expected):
    result = study_power(
        pilot(dataset), n_readers=readers, n_cases=cases, effect_size=effect, generalization=generalization
    )
    assert result.power == pytest.approx(expected, abs=5e-8)


def test_cases_needed_matches_rjafroc(vandyke_pilot):
    """RJafroc: SsSampleSizeKGivenJ(dataset02, J = 6) gives 251 cases (power table entry 0.801)."""
    cases = cases_for_power(vandyke_pilot, n_readers=6, effect_size=0.043800322)
    assert cases == 251
    assert round(study_power(vandyke_pilot, n_readers=6, n_cases=cases, effect_size=0.043800322).power, 3) == 0.801


def test_power_matches_noncentral_f_by_hand(vandyke_pilot):
    p = vandyke_pilot
    readers, cases, effect = 8, 200, 0.05
    scale = p.n_cases / cases
    ms_tr = p.var_TR + (p.var_error - p.cov1 - max(p.cov2 - p.cov3, 0)) * scale
    denominator = ms_tr + readers * max(p.cov2 - p.cov3, 0) * scale
    ddf = denominator**2 / (ms_tr**2 / (readers - 1))
    noncentrality = readers * effect**2 / 2 / denominator
    # power as a Monte Carlo probability of the noncentral F exceeding the critical value
    draws = stats.ncf.rvs(1, ddf, noncentrality, size=400_000, random_state=np.random.default_rng(0))
    expected = np.mean(draws > stats.f.ppf(0.95, 1, ddf))
    result = study_power(p, n_readers=readers, n_cases=cases, effect_size=effect)
    assert result.df2 == pytest.approx(ddf)
    assert result.power == pytest.approx(expected, abs=0.004)


def test_zero_effect_gives_alpha(vandyke_pilot):
    assert study_power(vandyke_pilot, n_readers=5, n_cases=100, effect_size=0.0).power == pytest.approx(0.05)


def test_power_grows_with_readers_and_cases(vandyke_pilot):
    powers = [
        study_power(vandyke_pilot, n_readers=j, n_cases=c, effect_size=0.05).power
        for j, c in ((4, 100), (8, 100), (8, 300))
    ]
    assert powers[0] < powers[1] < powers[2]


def test_cases_for_power_is_the_smallest_sufficient(vandyke_pilot):
    cases = cases_for_power(vandyke_pilot, n_readers=10, effect_size=0.05, target_power=0.8)
    assert study_power(vandyke_pilot, n_readers=10, n_cases=cases, effect_size=0.05).power >= 0.8
    assert study_power(vandyke_pilot, n_readers=10, n_cases=cases - 1, effect_size=0.05).power < 0.8


def test_table_reports_unreachable_designs(vandyke_pilot):
    table = dict(sample_size_table(vandyke_pilot, effect_size=0.05, readers=[2, 6, 12]))
    assert table[2] is None  # reader variance alone keeps 2 readers below 80% power
    assert table[6] > table[12]
