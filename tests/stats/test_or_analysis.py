"""OR analysis beyond two treatments, single-treatment designs and invariances."""

from __future__ import annotations

import dataclasses
import json
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from mrmc.stats import analyze, analyze_study, read_long_csv, result_to_json, simulate_roe_metz
from mrmc.stats.covariance import reader_averaged_covariance
from mrmc.stats.or_analysis import or_analysis

DATA = Path(__file__).parent / "data"
VANDYKE = read_long_csv(DATA / "vandyke.csv")
EXPECTED = json.loads((DATA / "vandyke_expected.json").read_text())


@pytest.mark.parametrize("cov", ["jackknife", "delong", "unbiased"])
def test_single_treatment_intervals_use_only_that_treatment(cov):
    """Analysing treatment 1 alone gives the reference single-treatment CIs."""
    method = {"jackknife": "jackknife", "delong": "DeLong", "unbiased": "unbiased"}[cov]
    alone = result_to_json(analyze(VANDYKE.ratings[:1], VANDYKE.truth, cov=cov))
    assert alone["rrrc"]["test"] is None and alone["rrrc"]["differences"] == []
    for section, generalization in (("RRRC", "rrrc"), ("FRRC", "frrc")):
        expected = EXPECTED[method][section]
        interval = alone[generalization]["treatment_ci"]["1"]
        assert interval["se"] == pytest.approx(expected["test1_se"]["value"], rel=1e-6)
        assert interval["ci"][0] == pytest.approx(expected["test1_ci_lower"]["value"], rel=1e-6)
        assert interval["ci"][1] == pytest.approx(expected["test1_ci_upper"]["value"], rel=1e-6)
    assert alone["rrfc"]["treatment_ci"]["1"]["se"] == pytest.approx(EXPECTED["RRFC"]["test1_se"]["value"], rel=1e-6)
    assert alone["var_components"]["var_TR"] is None and alone["var_components"]["cov1"] is None


def independent_mean_squares(theta):
    n_t, n_r = theta.shape
    grand = theta.mean()
    ms_t = sum(n_r * (theta[i].mean() - grand) ** 2 for i in range(n_t)) / (n_t - 1)
    ms_tr = sum(
        (theta[i, j] - theta[i].mean() - theta[:, j].mean() + grand) ** 2 for i in range(n_t) for j in range(n_r)
    ) / ((n_t - 1) * (n_r - 1))
    return ms_t, ms_tr


def test_three_treatments():
    ratings, truth = simulate_roe_metz(n_readers=4, n_normal=40, n_abnormal=30, n_treatments=3, seed=11)
    result = analyze(ratings, truth, treatments=["A", "B", "C"])
    analysis = result.analysis
    ms_t, ms_tr = independent_mean_squares(result.fom_table)
    c = analysis.var_components
    denominator = ms_tr + 4 * max(c.cov2 - c.cov3, 0)
    assert analysis.rrrc.test.statistic == pytest.approx(ms_t / denominator, rel=1e-12)
    assert analysis.rrrc.test.df1 == 2
    assert analysis.rrrc.test.df2 == pytest.approx(denominator**2 / (ms_tr**2 / 6), rel=1e-12)
    assert analysis.rrfc.test.statistic == pytest.approx(ms_t / ms_tr, rel=1e-12)
    assert analysis.rrfc.test.df2 == 6
    pairs = [d.treatments for d in analysis.rrrc.differences]
    assert pairs == [("A", "B"), ("A", "C"), ("B", "C")]
    means = dict(zip("ABC", result.treatment_means, strict=True))
    for difference in analysis.frrc.differences:
        first, second = difference.treatments
        assert difference.estimate == pytest.approx(means[first] - means[second])
        assert difference.p == pytest.approx(2 * stats.norm.sf(abs(difference.estimate / difference.se)))
    assert len(analysis.frrc.reader_differences) == 4 * 3


def test_single_reader_has_only_fixed_reader_results():
    result = analyze(VANDYKE.ratings[:, :1], VANDYKE.truth, cov="delong")
    document = result_to_json(result)
    assert document["rrrc"] is None and document["rrfc"] is None
    difference = document["frrc"]["differences"][0]
    reader = document["frrc"]["reader_differences"][0]
    assert difference["se"] == pytest.approx(reader["se"], rel=1e-12)


def test_mrmcaov_convention_clips_single_treatment_intervals():
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=15, n_abnormal=15, structure="HH3", seed=3)
    iowa = analyze(ratings, truth, convention="iowa").analysis
    clipped = analyze(ratings, truth, convention="mrmcaov").analysis
    upper = [i.ci[1] for i in iowa.rrrc.treatment_ci]
    assert max(upper) > 1.0  # AUC near 0.96 with few cases
    assert all(i.ci[1] <= 1.0 for i in clipped.rrrc.treatment_ci)


def test_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        analyze(VANDYKE.ratings, VANDYKE.truth, convention="sas")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["jackknife", "delong", "unbiased"]))
def test_swapping_treatments_flips_differences(seed, cov):
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=12, n_abnormal=10, seed=seed)
    forward = result_to_json(analyze(ratings, truth, cov=cov, treatments=["A", "B"]))
    backward = result_to_json(analyze(ratings[::-1], truth, cov=cov, treatments=["B", "A"]))
    assume(forward["rrfc"]["test"]["denominator"] > 1e-12)  # MS(T:R) = 0 up to rounding: ddf unstable
    for key in ("rrrc", "frrc", "rrfc"):
        ahead, behind = forward[key]["differences"][0], backward[key]["differences"][0]
        assert behind["treatments"] == ["B", "A"]
        assert behind["estimate"] == pytest.approx(-ahead["estimate"], abs=1e-12)
        assert behind["ci"] == pytest.approx([-ahead["ci"][1], -ahead["ci"][0]], abs=1e-12)
        assert behind["p"] == pytest.approx(ahead["p"], rel=1e-9)
        assert _close(backward[key]["test"], forward[key]["test"])


@settings(max_examples=25, deadline=None)
@given(st.permutations(range(VANDYKE.truth.size)), st.sampled_from(["jackknife", "delong", "unbiased"]))
def test_permuting_cases_changes_nothing(order, cov):
    order = np.array(order)
    original = result_to_json(analyze_study(VANDYKE, cov=cov))
    permuted = result_to_json(
        analyze(
            VANDYKE.ratings[..., order],
            VANDYKE.truth[order],
            cov=cov,
            treatments=VANDYKE.treatments,
            readers=VANDYKE.readers,
        )
    )
    assert _close(permuted, original)


def _close(left, right):
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(_close(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(_close(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, float):
        return left == pytest.approx(right, rel=1e-9, abs=1e-15)
    return left == right


def test_pairwise_differences_cover_all_pairs_in_file_order():
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=10, n_abnormal=10, n_treatments=4, seed=5)
    labels = ["x", "w", "z", "y"]
    document = result_to_json(analyze(ratings, truth, treatments=labels))
    assert [d["treatments"] for d in document["rrrc"]["differences"]] == [list(p) for p in combinations(labels, 2)]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from(["iowa", "mrmcaov"]), st.integers(0, 2**32 - 1))
def test_or_analysis_depends_on_the_covariance_only_through_its_reader_average(n_t, n_r, convention, seed):
    """What lets the unbiased estimator skip the individual covariances of two readers."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.6, 0.95, size=(n_t, n_r))
    factor = rng.normal(scale=0.01, size=(n_t * n_r, n_t * n_r + 2))
    cov = factor @ factor.T
    labels = (tuple(f"t{k}" for k in range(n_t)), tuple(f"r{k}" for k in range(n_r)))
    full = or_analysis(theta, cov, *labels, convention=convention)
    averaged = or_analysis(theta, reader_averaged_covariance(cov, n_t, n_r), *labels, convention=convention)
    assert_same_numbers(dataclasses.asdict(full), dataclasses.asdict(averaged))


def assert_same_numbers(first, second):
    if isinstance(first, dict):
        assert first.keys() == second.keys()
        for key in first:
            assert_same_numbers(first[key], second[key])
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second)
        for a, b in zip(first, second, strict=True):
            assert_same_numbers(a, b)
    elif isinstance(first, (float, np.floating)):
        assert first == pytest.approx(second, rel=1e-9, abs=1e-15, nan_ok=True)
    else:
        assert first == second
