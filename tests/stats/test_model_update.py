"""A new model version against the cleared one: checked against pROC, a direct DeLong, scipy and statsmodels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import read_long_csv
from mrmc.stats.model_update import (
    auc_noninferiority,
    calibration,
    evaluate_acceptance_criteria,
    operating_point,
    paired_difference,
    subgroup_differences,
    validate_acceptance_criteria,
)
from mrmc.stats.proportions import proportion

DATA = Path(__file__).parent / "data"
CRITERIA = {
    "auc_noninferiority": {"margin": 0.02, "alpha": 0.025},
    "sensitivity_floor": 0.75,
    "specificity_floor": 0.70,
    "subgroup_max_drop": {"variable": "site", "max": 0.05},
}


def direct_delong_difference(reference, candidate, truth):
    """DeLong et al. (1988) written out from its definitions: psi over every (diseased, normal) pair,
    V10 and V01 as row and column means, S10 and S01 with denominators n - 1."""
    components = []
    for scores in (reference, candidate):
        x, y = scores[truth][:, None], scores[~truth][None, :]
        psi = (x > y) + 0.5 * (x == y)
        components.append((psi.mean(axis=1), psi.mean(axis=0), psi.mean()))
    v10 = np.array([c[0] for c in components])
    v01 = np.array([c[1] for c in components])
    s = np.cov(v10) / truth.sum() + np.cov(v01) / (~truth).sum()
    contrast = np.array([-1.0, 1.0])
    return components[1][2] - components[0][2], float(np.sqrt(contrast @ s @ contrast))


def test_paired_auc_difference_matches_proc_on_the_vandyke_data():
    # > a, b: reader 1, treatments 1 and 2 of tests/stats/data/vandyke.csv, ordered by case
    # > r1 <- roc(a$truth, a$rating, levels = c(0, 1), direction = "<"); r2 <- (the same for b)
    # > t <- roc.test(r2, r1, method = "delong", paired = TRUE)     # pROC 1.18
    # Z = 1.111081321119, p = 0.266533347181, 95% CI -0.021530210014 to 0.077890918549
    study = read_long_csv(DATA / "vandyke.csv")
    reference, candidate = study.ratings[0, 0], study.ratings[1, 0]
    result = paired_difference(reference, candidate, study.truth)
    assert result.reference == pytest.approx(0.919645732689, abs=1e-11)
    assert result.candidate == pytest.approx(0.947826086957, abs=1e-11)
    assert result.z == pytest.approx(1.111081321119, rel=1e-9)
    assert result.p == pytest.approx(0.266533347181, rel=1e-9)
    assert result.ci == pytest.approx((-0.021530210014, 0.077890918549), abs=1e-10)


def test_paired_auc_difference_matches_a_direct_delong_with_ties():
    rng = np.random.default_rng(11)
    truth = rng.random(300) < 0.35
    reference = np.round(rng.normal(truth * 1.2, 1.0), 1)  # rounded: many ties
    candidate = np.round(0.6 * reference + rng.normal(truth * 0.9, 0.8), 1)
    difference, se = direct_delong_difference(reference, candidate, truth)
    result = paired_difference(reference, candidate, truth)
    assert result.difference == pytest.approx(difference, abs=1e-12)
    assert result.se == pytest.approx(se, rel=1e-10)
    assert 0 < result.correlation < 1


def test_noninferiority_is_the_one_sided_z_test_against_the_margin():
    rng = np.random.default_rng(5)
    truth = rng.random(400) < 0.3
    reference = rng.normal(truth * 1.5, 1.0)
    candidate = reference + rng.normal(-0.1 * truth, 0.3)  # slightly worse
    difference, se = direct_delong_difference(reference, candidate, truth)
    for margin in (0.0, 0.02, 0.05):
        test = auc_noninferiority(reference, candidate, truth, margin=margin, alpha=0.025)
        z = (difference + margin) / se
        assert test.z == pytest.approx(z, rel=1e-9)
        assert test.p == pytest.approx(stats.norm.sf(z), rel=1e-9)
        assert test.lower_bound == pytest.approx(difference - stats.norm.ppf(0.975) * se, rel=1e-9)
        assert test.non_inferior == (z > stats.norm.ppf(0.975))
    assert not auc_noninferiority(reference, candidate, truth, margin=0.0).non_inferior
    assert auc_noninferiority(reference, candidate, truth, margin=0.05).non_inferior


def test_paired_sensitivity_difference_is_the_paired_wald_variance_by_hand():
    # 10 diseased cases: both positive on 6, reference only on 3 (c), candidate only on 1 (b)
    reference = np.array([1] * 6 + [1] * 3 + [0] * 1, float)
    candidate = np.array([1] * 6 + [0] * 3 + [1] * 1, float)
    truth = np.ones(10, bool)
    truth_with_normals = np.r_[truth, np.zeros(3, bool)]
    result = paired_difference(
        np.r_[reference, 0, 0, 0], np.r_[candidate, 0, 0, 0], truth_with_normals, metric="sensitivity"
    )
    # d_i in {-1 (3 cases), +1 (1 case), 0}: mean -0.2, sample variance (4 - 10 * 0.04) / 9 = 0.4
    assert result.difference == pytest.approx(-0.2)
    assert result.se == pytest.approx(np.sqrt(0.4 / 10))


@pytest.mark.parametrize(("successes", "n"), [(0, 20), (3, 20), (17, 20), (20, 20), (431, 500)])
def test_wilson_and_clopper_pearson_intervals_by_their_formulas(successes, n):
    z, p = stats.norm.ppf(0.975), successes / n
    centre, half = (successes + z**2 / 2) / (n + z**2), z * np.sqrt(n * p * (1 - p) + z**2 / 4) / (n + z**2)
    assert proportion(successes, n).ci == pytest.approx((centre - half, centre + half), abs=1e-10)  # Wilson 1927
    lower = stats.beta.ppf(0.025, successes, n - successes + 1) if successes else 0.0  # Clopper & Pearson 1934
    upper = stats.beta.ppf(0.975, successes + 1, n - successes) if successes < n else 1.0
    exact = proportion(successes, n, method="clopper-pearson")
    assert exact.ci == pytest.approx((lower, upper), abs=1e-9) and exact.estimate == p


def test_operating_point_counts_calls_at_or_above_the_threshold():
    truth = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0], bool)
    scores = np.array([0.9, 0.5, 0.49, 0.7, 0.5, 0.1, 0.2, 0.3, 0.0])
    point = operating_point(scores, truth, 0.5)
    assert (point.sensitivity.successes, point.sensitivity.n) == (3, 4)
    assert (point.specificity.successes, point.specificity.n) == (4, 5)


def test_calibration_intercept_and_slope_match_statsmodels_logistic_regression():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(3)
    logit = rng.normal(-1.0, 1.5, 600)
    truth = rng.random(600) < 1 / (1 + np.exp(-(0.3 + 0.7 * logit)))  # over-confident, under-predicting
    probabilities = 1 / (1 + np.exp(-logit))
    result = calibration(probabilities, truth)
    ones = np.ones((600, 1))
    large = sm.GLM(truth.astype(float), ones, family=sm.families.Binomial(), offset=logit).fit()
    slope = sm.GLM(truth.astype(float), np.column_stack([ones, logit]), family=sm.families.Binomial()).fit()
    assert result.intercept == pytest.approx(large.params[0], abs=1e-8)
    assert result.intercept_ci == pytest.approx(tuple(large.conf_int()[0]), abs=1e-6)
    assert result.slope == pytest.approx(slope.params[1], abs=1e-8)
    assert result.slope_ci == pytest.approx(tuple(slope.conf_int()[1]), abs=1e-6)


def test_expected_calibration_error_by_hand():
    probabilities = np.array([0.05, 0.15, 0.12, 0.95, 0.85, 0.55])
    truth = np.array([0, 1, 0, 1, 1, 0], bool)
    # bins of width 0.1: [0, .1): |0 - .05|; [.1, .2): 2 cases, |0.5 - 0.135|; [.5, .6): |0 - .55|;
    # [.8, .9): |1 - .85|; [.9, 1]: |1 - .95|
    expected = (0.05 + 2 * 0.365 + 0.55 + 0.15 + 0.05) / 6
    assert calibration(probabilities, truth).expected_calibration_error == pytest.approx(expected)


def locked_cases(seed=19):
    """400 cases at three sites, a cleared model and two updates: one better everywhere, one better on
    average but much worse at site C."""
    rng = np.random.default_rng(seed)
    site = np.repeat(np.array(["A", "B", "C"]), [150, 150, 100])
    truth = rng.random(site.size) < 0.4
    reference = rng.normal(truth * 1.8, 1.0)
    improved = reference + rng.normal(truth * 0.3, 0.4)
    worse_at_c = reference + np.where(site == "C", rng.normal(-0.5 * truth, 0.5), rng.normal(truth * 1.0, 0.4))
    return truth, site, reference, improved, worse_at_c


def test_a_version_that_passes_and_one_that_fails_the_subgroup_criterion():
    truth, site, reference, improved, worse_at_c = locked_cases()
    common = dict(truth=truth, reference_scores=reference, candidate_threshold=0.9, case_levels={"site": site})
    passing = evaluate_acceptance_criteria(CRITERIA, candidate_scores=improved, **common)
    assert passing.passed, [c.reason for c in passing.criteria if not c.passed]
    failing = evaluate_acceptance_criteria(CRITERIA, candidate_scores=worse_at_c, **common)
    verdicts = {c.name: c for c in failing.criteria}
    assert verdicts["auc_noninferiority"].passed  # better on average ...
    subgroup = verdicts["subgroup_max_drop"]
    assert not subgroup.passed and not failing.passed  # ... but worse at one site
    assert "site C" in subgroup.reason and "site A" not in subgroup.reason
    at_c = next(group for group in subgroup.details if group.level == "C")
    members = site == "C"
    difference, _ = direct_delong_difference(reference[members], worse_at_c[members], truth[members])
    assert at_c.comparison.difference == pytest.approx(difference) and difference < -0.05
    assert subgroup.estimate == pytest.approx(difference)


def test_a_floor_is_judged_on_the_lower_confidence_bound_unless_told_otherwise():
    truth = np.r_[np.ones(100, bool), np.zeros(100, bool)]
    scores = np.r_[np.ones(88), np.zeros(12), np.zeros(100)]  # sensitivity 0.88 of 100
    common = dict(truth=truth, reference_scores=scores, candidate_scores=scores, candidate_threshold=0.5)
    lower = stats.binomtest(88, 100).proportion_ci(method="wilson").low  # 0.802
    on_bound = evaluate_acceptance_criteria({"sensitivity_floor": 0.85}, **common).criteria[0]
    assert not on_bound.passed and f"{lower:.4f}" in on_bound.reason
    on_estimate = evaluate_acceptance_criteria({"sensitivity_floor": {"min": 0.85, "judge": "estimate"}}, **common)
    assert on_estimate.passed


def test_calibration_criterion_reports_what_is_outside_its_limits():
    rng = np.random.default_rng(8)
    logit = rng.normal(0, 2, 2000)
    truth = rng.random(2000) < 1 / (1 + np.exp(-logit))
    calibrated = 1 / (1 + np.exp(-logit))
    overconfident = 1 / (1 + np.exp(-2.5 * logit))
    criteria = {"calibration": {"slope": [0.8, 1.2], "intercept": [-0.2, 0.2]}}
    common = dict(truth=truth, reference_scores=calibrated, candidate_threshold=0.5)
    assert evaluate_acceptance_criteria(criteria, candidate_scores=calibrated, **common).passed
    result = evaluate_acceptance_criteria(criteria, candidate_scores=overconfident, **common).criteria[0]
    assert not result.passed and result.reason.startswith("outside limits: slope 0.4")


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (
            {"auc_noninferiority": {"margin": 0.02}, "auc_superiority": {}},
            "unknown acceptance criteria auc_superiority",
        ),
        ({"auc_noninferiority": {"margin": -0.1}}, "'margin' must be a number between 0"),
        ({"sensitivity_floor": 1.5}, "'min' must be a number between 0"),
        ({"subgroup_max_drop": {"max": 0.05}}, "'variable' must name a case variable"),
        ({"subgroup_max_drop": {"variable": "site", "max": 0.05, "metric": "ppv"}}, "'metric' must be one of"),
        ({"calibration": {"slope": [1.2, 0.8]}}, "low limit 1.2 exceeds its high limit 0.8"),
        ({"calibration": {"slopes": [0.8, 1.2]}}, "unknown setting slopes"),
        ({}, "non-empty mapping"),
    ],
)
def test_bad_criteria_are_refused_naming_the_problem(criteria, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        validate_acceptance_criteria(criteria)


def test_the_short_form_of_a_floor_is_expanded():
    assert validate_acceptance_criteria({"specificity_floor": 0.8}) == {
        "specificity_floor": {"min": 0.8, "judge": "lower_bound", "alpha": 0.05, "interval": "wilson"}
    }


def test_sensitivity_subgroups_need_no_non_diseased_cases():
    truth = np.r_[np.ones(12, bool), np.zeros(12, bool)]
    site = np.r_[["A"] * 12, ["B"] * 12]  # site A: diseased cases only
    reference = np.r_[np.ones(10), np.zeros(2), np.zeros(12)]
    candidate = np.r_[np.ones(8), np.zeros(4), np.zeros(12)]
    groups = subgroup_differences(reference, candidate, truth, site, variable="site", metric="sensitivity")
    assert [g.level for g in groups] == ["A", "B"] and groups[1].comparison is None
    assert groups[0].comparison.difference == pytest.approx(-2 / 12)
    assert np.isfinite(groups[0].comparison.se)
