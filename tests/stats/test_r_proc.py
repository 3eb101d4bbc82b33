"""Cross-check of single-reader DeLong results against R's pROC (through rpy2).

Skipped unless rpy2, R and the pROC package are installed
(Debian: apt-get install r-base-core r-cran-proc; pip install rpy2==3.5.17).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import FigureOfMerit, analyze, estimate_covariance, read_long_csv

DATA = Path(__file__).parent / "data"


def r_roc(robjects, truth, ratings):
    robjects.globalenv["truth"] = robjects.IntVector(truth.astype(int))
    robjects.globalenv["rating"] = robjects.FloatVector(ratings)
    return robjects.r("pROC::roc(truth, rating, levels = c(0, 1), direction = '<', quiet = TRUE)")


@pytest.mark.parametrize("reader", range(5))
def test_single_reader_delong_matches_proc(proc, reader):
    study = read_long_csv(DATA / "vandyke.csv")
    ratings = study.ratings[:, reader : reader + 1]
    proc.globalenv["roc1"] = r_roc(proc, study.truth, ratings[0, 0])
    proc.globalenv["roc2"] = r_roc(proc, study.truth, ratings[1, 0])
    r_auc = [proc.r(f"as.numeric(pROC::auc(roc{i}))")[0] for i in (1, 2)]
    r_cov = np.array(
        proc.r(
            "c(pROC::var(roc1, method = 'delong'), pROC::cov(roc1, roc2, method = 'delong'),"
            " pROC::var(roc2, method = 'delong'))"
        )
    )
    r_test = proc.r("pROC::roc.test(roc1, roc2, method = 'delong', paired = TRUE)")
    r_z, r_p = r_test.rx2("statistic")[0], r_test.rx2("p.value")[0]

    result = analyze(ratings, study.truth, cov="delong")
    cov = estimate_covariance("delong", FigureOfMerit("auc"), ratings, study.truth)
    np.testing.assert_allclose(result.fom_table[:, 0], r_auc, rtol=1e-12)
    np.testing.assert_allclose([cov[0, 0], cov[0, 1], cov[1, 1]], r_cov, rtol=1e-9)
    difference = result.analysis.frrc.differences[0]
    assert difference.statistic == pytest.approx(r_z, rel=1e-9)
    assert difference.p == pytest.approx(r_p, rel=1e-9)
