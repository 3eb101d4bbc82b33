"""The AI's standalone AUC (DeLong) and the AI-versus-readers comparison."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import FigureOfMerit, auc
from mrmc.stats.standalone import ai_versus_readers, empirical_roc, standalone_auc


def delong_by_loops(scores_a, scores_b, truth):
    """DeLong et al. (1988) structural components, written out with explicit loops."""
    def components(scores):
        diseased, normal = scores[truth], scores[~truth]
        psi = lambda x, y: 1.0 if x > y else 0.5 if x == y else 0.0  # noqa: E731
        v10 = np.array([np.mean([psi(x, y) for y in normal]) for x in diseased])
        v01 = np.array([np.mean([psi(x, y) for x in diseased]) for y in normal])
        return v10, v01
    (a10, a01), (b10, b01) = components(scores_a), components(scores_b)
    s10 = np.cov(np.vstack([a10, b10]))
    s01 = np.cov(np.vstack([a01, b01]))
    return s10 / a10.size + s01 / a01.size


def sample(rng, n_cases=60):
    truth = np.arange(n_cases) % 3 == 0
    latent = truth * 1.2 + rng.normal(size=n_cases)
    return truth, latent


def test_standalone_auc_se_equals_delong_by_hand():
    rng = np.random.default_rng(1)
    truth, latent = sample(rng)
    scores = np.round(latent, 1)  # ties
    result = standalone_auc(scores, truth)
    variance = delong_by_loops(scores, scores, truth)[0, 0]
    assert result.auc == pytest.approx(float(auc(scores, truth)))
    assert result.se == pytest.approx(np.sqrt(variance), rel=1e-12)
    assert result.ci == pytest.approx((result.auc - 1.959964 * result.se, result.auc + 1.959964 * result.se), abs=1e-6)


def test_one_reader_against_ai_is_the_paired_delong_test():  # FRRC: the AI as one more fixed reader
    rng = np.random.default_rng(2)
    truth, latent = sample(rng)
    reader = latent + rng.normal(scale=0.7, size=truth.size)
    ai = latent + rng.normal(scale=0.4, size=truth.size)
    result = ai_versus_readers(reader[None, :], ai, truth, fom=FigureOfMerit("auc"), method="frrc", cov="delong")
    s = delong_by_loops(reader, ai, truth)
    se = np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    assert result.difference == pytest.approx(float(auc(reader, truth) - auc(ai, truth)))
    assert result.se == pytest.approx(se, rel=1e-10)
    assert result.p == pytest.approx(2 * stats.norm.sf(abs(result.difference / se)), rel=1e-10)


def test_readers_mean_uses_equal_weights():
    rng = np.random.default_rng(3)
    truth, latent = sample(rng)
    readers = latent + rng.normal(scale=0.8, size=(4, truth.size))
    ai = latent + rng.normal(scale=0.5, size=truth.size)
    result = ai_versus_readers(readers, ai, truth, fom=FigureOfMerit("auc"))
    assert result.readers_mean_fom == pytest.approx(float(np.mean([auc(r, truth) for r in readers])))
    assert result.ai_fom == pytest.approx(float(auc(ai, truth)))


def test_empirical_roc_area_is_the_auc():
    rng = np.random.default_rng(4)
    truth, latent = sample(rng)
    scores = np.round(latent, 1)
    fpr, tpr = empirical_roc(scores, truth)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.trapezoid(tpr, fpr) == pytest.approx(float(auc(scores, truth)))


def test_standalone_ci_matches_proc(proc):
    rng = np.random.default_rng(5)
    truth, latent = sample(rng, 90)
    scores = np.round(latent, 2)
    proc.globalenv["truth"] = proc.IntVector(truth.astype(int))
    proc.globalenv["score"] = proc.FloatVector(scores)
    r_ci = np.array(proc.r("as.numeric(pROC::ci.auc(pROC::roc(truth, score, levels = c(0, 1), direction = '<',"
                           " quiet = TRUE), method = 'delong'))"))
    result = standalone_auc(scores, truth)
    assert [result.ci[0], result.auc, result.ci[1]] == pytest.approx(list(r_ci), abs=1e-10)


def test_ai_versus_one_reader_matches_proc_roc_test(proc):
    rng = np.random.default_rng(6)
    truth, latent = sample(rng, 90)
    reader = np.round(latent + rng.normal(scale=0.7, size=truth.size), 1)
    ai = latent + rng.normal(scale=0.4, size=truth.size)
    proc.globalenv["truth"] = proc.IntVector(truth.astype(int))
    proc.globalenv["reader"] = proc.FloatVector(reader)
    proc.globalenv["ai"] = proc.FloatVector(ai)
    z = proc.r("roc <- function(x) pROC::roc(truth, x, levels = c(0, 1), direction = '<', quiet = TRUE);"
               "pROC::roc.test(roc(reader), roc(ai), method = 'delong', paired = TRUE)$statistic")[0]
    result = ai_versus_readers(reader[None, :], ai, truth, fom=FigureOfMerit("auc"), method="frrc", cov="delong")
    assert result.statistic == pytest.approx(z, rel=1e-8)
