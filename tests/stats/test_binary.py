"""Sensitivity and specificity as MRMC endpoints: the class-restricted jackknife and U-statistics.

MRMCaov (R) is not installed on the test machines, so the checks are analytic (hand-computed
cases written out below), an explicit leave-one-out loop, and the two-way ANOVA of statsmodels.
"""

import numpy as np
import pandas as pd
import pytest
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from mrmc.stats import FigureOfMerit
from mrmc.stats.binary import (
    binary_endpoint_analysis,
    class_restricted_covariance,
    correct_calls,
    endpoint_covariance,
    ustat_variance,
)
from mrmc.stats.covariance import estimate_covariance
from mrmc.stats.or_analysis import rrrc_test

# 4 diseased then 3 non-diseased cases; threshold 3: a rating >= 3 is a positive call
TRUTH = np.array([True, True, True, True, False, False, False])
READER_1 = [5, 3, 4, 1, 2, 3, 1]  # sensitivity 3/4 (calls 1 1 1 0); specificity 2/3 (calls 1 0 1)
READER_2 = [4, 2, 3, 5, 1, 1, 4]  # sensitivity 3/4 (calls 1 0 1 1); specificity 2/3 (calls 1 1 0)


def study(rng, n_treatments=2, n_readers=4, n_cases=80, prevalence=0.3):
    truth = rng.random(n_cases) < prevalence
    truth[:2], truth[2:4] = True, False
    latent = truth * 1.0 + rng.normal(size=n_cases)
    ratings = latent + rng.normal(scale=0.8, size=(n_treatments, n_readers, n_cases))
    return np.round(ratings, 1), truth


def jackknife_by_loops(ratings, truth, kind, threshold, left_out):
    """Leave each case in ``left_out`` out in turn; (K-1)/K times the sum of centred products."""
    flat = ratings.reshape(-1, truth.size)
    decided = truth if kind == "sens" else ~truth
    values = []
    for k in left_out:
        keep = decided.copy()
        keep[k] = False
        correct = flat[:, keep] >= threshold if kind == "sens" else flat[:, keep] < threshold
        values.append(correct.mean(axis=1))
    values = np.array(values)
    centred = values - values.mean(axis=0)
    return (len(left_out) - 1) / len(left_out) * centred.T @ centred


def test_one_reader_hand_computed():
    ratings = np.array([[READER_1]], dtype=float)
    # sensitivity 3/4 over n1 = 4: p(1-p)/(n1-1) = (3/16)/3 = 1/16
    sens = class_restricted_covariance(ratings, TRUTH, kind="sens", threshold=3)
    assert sens == pytest.approx(np.array([[1 / 16]]), abs=1e-15)
    # specificity 2/3 over n0 = 3: (2/9)/2 = 1/9
    spec = class_restricted_covariance(ratings, TRUTH, kind="spec", threshold=3)
    assert spec == pytest.approx(np.array([[1 / 9]]), abs=1e-15)
    # jackknifed over all 7 cases the sensitivity variance is 6/7 * 1/12 = 1/14 = 1/16 * (6/7) / (3/4)
    over_all_cases = estimate_covariance("jackknife", FigureOfMerit("sens", threshold=3), ratings, TRUTH)
    assert over_all_cases == pytest.approx(np.array([[1 / 14]]), abs=1e-15)


def test_two_readers_hand_computed_covariance():
    ratings = np.array([[READER_1, READER_2]], dtype=float)
    cov = class_restricted_covariance(ratings, TRUTH, kind="sens", threshold=3)
    # centred calls (1/4, 1/4, 1/4, -3/4) and (1/4, -3/4, 1/4, 1/4): products sum to -1/4, over n(n-1) = 12
    assert cov == pytest.approx(np.array([[1 / 16, -1 / 48], [-1 / 48, 1 / 16]]), abs=1e-15)
    spec = class_restricted_covariance(ratings, TRUTH, kind="spec", threshold=3)
    # centred calls (1/3, -2/3, 1/3) and (1/3, 1/3, -2/3): products sum to -1/3, over 6
    assert spec == pytest.approx(np.array([[1 / 9, -1 / 18], [-1 / 18, 1 / 9]]), abs=1e-15)


@pytest.mark.parametrize("kind", ["sens", "spec"])
def test_equals_the_jackknife_over_the_class_written_as_a_loop(kind):
    rng = np.random.default_rng(11)
    ratings, truth = study(rng)
    decided = np.flatnonzero(truth if kind == "sens" else ~truth)
    expected = jackknife_by_loops(ratings, truth, kind, 0.5, decided)
    assert class_restricted_covariance(ratings, truth, kind=kind, threshold=0.5) == pytest.approx(expected, abs=1e-14)
    # the all-case jackknife is the same loop over every case: inflated by (N-1)/N / ((n-1)/n)
    everything = jackknife_by_loops(ratings, truth, kind, 0.5, range(truth.size))
    n, n_all = decided.size, truth.size
    assert everything == pytest.approx(expected * ((n_all - 1) / n_all) / ((n - 1) / n), abs=1e-14)


def test_single_reader_variance_is_the_unbiased_binomial_variance():
    rng = np.random.default_rng(12)
    ratings, truth = study(rng, n_treatments=1, n_readers=6, n_cases=200)
    for kind, n in (("sens", truth.sum()), ("spec", (~truth).sum())):
        p = correct_calls(ratings, truth, kind=kind, threshold=0.7).mean(axis=-1).ravel()
        cov = class_restricted_covariance(ratings, truth, kind=kind, threshold=0.7)
        assert np.diag(cov) == pytest.approx(p * (1 - p) / (n - 1), rel=1e-12)


def test_endpoint_covariance_restricts_sens_and_spec_only():
    rng = np.random.default_rng(13)
    ratings, truth = study(rng)
    sens = FigureOfMerit("sens", threshold=0.5)
    expected = class_restricted_covariance(ratings, truth, kind="sens", threshold=0.5, reader_averaged=True)
    for method in ("jackknife", "unbiased"):
        got = endpoint_covariance(method, sens, ratings, truth, reader_averaged=True)
        assert got == pytest.approx(expected, abs=1e-15)
    auc = FigureOfMerit("auc")
    assert endpoint_covariance("jackknife", auc, ratings, truth) == pytest.approx(
        estimate_covariance("jackknife", auc, ratings, truth), abs=0
    )
    # DeLong's structural components already live within the class
    assert endpoint_covariance("delong", sens, ratings, truth) == pytest.approx(
        class_restricted_covariance(ratings, truth, kind="sens", threshold=0.5), abs=1e-15
    )


def ustat_by_pairs(scores):
    """The four moments of Gallas, Pennello & Myers (2007) by explicit loops over pairs of reads."""
    n_r, n_c = scores.shape
    sums = np.zeros(4)
    counts = np.zeros(4)
    for r in range(n_r):
        for i in range(n_c):
            for s in range(n_r):
                for j in range(n_c):
                    kind = (0 if i == j else 1) if r == s else (2 if i == j else 3)
                    sums[kind] += scores[r, i] * scores[s, j]
                    counts[kind] += 1
    m1, m2, m3, m4 = sums / counts
    return (m1 + (n_c - 1) * m2 + (n_r - 1) * m3 + (1 - n_c - n_r) * m4) / (n_r * n_c)


def anova_variance_of_mean(scores):
    """(MS(R) + MS(C) - MS(RC)) / (R n) from statsmodels' two-way ANOVA without replication."""
    n_r, n_c = scores.shape
    frame = pd.DataFrame(
        {"score": scores.ravel(), "reader": np.repeat(np.arange(n_r), n_c), "case": np.tile(np.arange(n_c), n_r)}
    )
    table = anova_lm(ols("score ~ C(reader) + C(case)", data=frame).fit())
    mean_square = table["sum_sq"] / table["df"]
    return (mean_square["C(reader)"] + mean_square["C(case)"] - mean_square["Residual"]) / (n_r * n_c)


def test_ustat_variance_by_pairs_and_by_anova():
    rng = np.random.default_rng(14)
    calls = (rng.random((5, 12)) < rng.uniform(0.5, 0.9, size=(5, 1))).astype(float)
    assert ustat_variance(calls) == pytest.approx(ustat_by_pairs(calls), rel=1e-12)
    assert ustat_variance(calls) == pytest.approx(anova_variance_of_mean(calls), rel=1e-10)
    differences = calls - (rng.random((5, 12)) < 0.7)
    assert ustat_variance(differences) == pytest.approx(anova_variance_of_mean(differences), rel=1e-10)


def test_ustat_hand_computed():
    # two readers' sensitivity calls from READER_1 and READER_2: grand mean 3/4
    calls = np.array([[1, 1, 1, 0], [1, 0, 1, 1]], dtype=float)
    # M1 = 6/8; M2 = (3^2 - 3 + 3^2 - 3)/(2*4*3) = 1/2; M3 = (sum of squared case sums 4+1+4+1 = 10, - 6)/(4*2*1) = 1/2;
    # M4 = (36 - 18 - 10 + 6)/(2*1*4*3) = 14/24; Var = (3/4 + 3/2 + 1/2 - 5 * 14/24)/8 = (11/4 - 35/12)/8 = -1/48
    assert ustat_variance(calls) == pytest.approx(-1 / 48, abs=1e-15)


def test_or_method_reader_table_and_generalizations():
    rng = np.random.default_rng(15)
    ratings, truth = study(rng)
    result = binary_endpoint_analysis(
        ratings, truth, kind="spec", threshold=0.5, treatments=("AI", "control"), readers=tuple("abcd"),
        convention="mrmcaov",  # FRRC error term not truncated: exactly w' S w
    )
    n0 = int((~truth).sum())
    p = (ratings[..., ~truth] < 0.5).mean(axis=-1)
    assert result.n_class == n0
    assert result.fom_table == pytest.approx(p, abs=0)
    assert result.reader_se == pytest.approx(np.sqrt(p * (1 - p) / (n0 - 1)), rel=1e-12)
    assert result.reader_ci[..., 0] == pytest.approx(np.clip(p - 1.959963984540054 * result.reader_se, 0, 1))
    difference = result.analysis.rrrc.differences[0]
    assert difference.treatments == ("AI", "control")
    assert difference.estimate == pytest.approx(p[0].mean() - p[1].mean(), abs=1e-15)
    # FRRC: Var(mean difference) = w' S w over the class-restricted jackknife, written as a loop here
    s = jackknife_by_loops(ratings, truth, "spec", 0.5, np.flatnonzero(~truth))
    weights = np.r_[np.full(4, 0.25), np.full(4, -0.25)]
    assert result.analysis.frrc.differences[0].se == pytest.approx(np.sqrt(weights @ s @ weights), rel=1e-10)
    assert {g.name for g in (result.analysis.rrrc, result.analysis.frrc, result.analysis.rrfc)} == {
        "rrrc", "frrc", "rrfc"
    }


def test_ustat_method_differences_read_first_minus_second():
    rng = np.random.default_rng(16)
    ratings, truth = study(rng, n_cases=120)
    result = binary_endpoint_analysis(
        ratings, truth, kind="sens", threshold=0.5, treatments=("AI", "control"), readers=tuple("abcd"), method="ustat"
    )
    calls = correct_calls(ratings, truth, kind="sens", threshold=0.5)
    (difference,) = result.ustat_differences
    assert difference.label == "AI - control"
    assert difference.estimate == pytest.approx(calls[0].mean() - calls[1].mean(), abs=1e-15)
    assert difference.variance == pytest.approx(anova_variance_of_mean(calls[0] - calls[1]), rel=1e-10)
    assert [m.estimate for m in result.ustat_means] == pytest.approx(list(calls.mean(axis=(1, 2))))
    assert result.analysis is None


def test_refuses_unknown_endpoint_and_method():
    ratings = np.array([[READER_1, READER_2]], dtype=float)
    with pytest.raises(ValueError, match="binary endpoint"):
        correct_calls(ratings, TRUTH, kind="auc", threshold=3)
    with pytest.raises(ValueError, match="method"):
        binary_endpoint_analysis(ratings, TRUTH, kind="sens", threshold=3, treatments=("a",), readers=("1", "2"),
                                 method="dbm")


def null_binary_studies(rng, n_studies, n_readers, n_diseased, *, reader_sd=0.3, separation=1.2):
    """Two arms with the same distribution of ratings: reader, case and arm x case effects, threshold 0.

    A diseased rating is separation + N(0, reader_sd^2) per reader, plus a case effect N(0, 0.3)
    shared by every read of the case, an arm x case effect N(0, 0.2) and noise N(0, 0.5).
    """
    n_cases = 2 * n_diseased
    truth = np.arange(n_cases) < n_diseased
    reader = separation + reader_sd * rng.normal(size=(n_studies, 1, n_readers, 1))
    case = np.sqrt(0.3) * rng.normal(size=(n_studies, 1, 1, n_cases))
    arm_case = np.sqrt(0.2) * rng.normal(size=(n_studies, 2, 1, n_cases))
    noise = np.sqrt(0.5) * rng.normal(size=(n_studies, 2, n_readers, n_cases))
    return reader * truth - 0.6 + case + arm_case + noise, truth


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sens", "spec"])
def test_type_one_error_of_the_rrrc_test(kind):
    rng = np.random.default_rng(17)
    ratings, truth = null_binary_studies(rng, 10_000, 5, 60)
    theta = correct_calls(ratings, truth, kind=kind, threshold=0.0).mean(axis=-1)
    cov = class_restricted_covariance(ratings, truth, kind=kind, threshold=0.0)
    p = rrrc_test(theta, cov).p
    assert np.isfinite(p).all()
    rate = float(np.mean(p < 0.05))
    assert 0.04 <= rate <= 0.06, rate


@pytest.mark.parametrize("kind", ["sens", "spec"])
def test_the_or_analysis_uses_the_class_restricted_covariance(kind):
    """``analyze`` (and so the platform's operating points) jackknifes sens/spec within their class."""
    from mrmc.stats import analyze
    from mrmc.stats.binary import class_restricted_covariance

    rng = np.random.default_rng(7)
    truth = np.repeat([False, True], [30, 20])
    ratings = rng.normal(size=(2, 4, truth.size)) + truth
    result = analyze(ratings, truth, fom=kind, threshold=0.5)
    expected = class_restricted_covariance(ratings, truth, kind=kind, threshold=0.5, reader_averaged=True)
    assert np.allclose(result.covariance, expected, rtol=0, atol=1e-15)
    all_cases = estimate_covariance("jackknife", FigureOfMerit(kind, 0.5), ratings, truth, reader_averaged=True)
    n, n_class = truth.size, (truth.sum() if kind == "sens" else (~truth).sum())
    # the all-case jackknife is inflated by (n-1)/n / ((n_class-1)/n_class) on the variances
    assert np.allclose(np.diag(all_cases), np.diag(expected) * (n - 1) / n / ((n_class - 1) / n_class))
