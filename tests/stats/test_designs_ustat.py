"""The U-statistic analysis (iMRMC's convention) of split-plot and partially paired studies.

Reference: tests/stats/data/sp_a_expected.json, iMRMC 4.0.3 full-precision U-statistic results
(``iMRMC.Ustat``: reader-averaged AUCs, variances, covariance, BDG degrees of freedom, t and
normal p-values and CIs); with
missing reads the estimates are checked against a direct enumeration written here from the
definition (pair-weighted reader averages; A_t A_u minus the mean kernel product over different
readers and different cases).
"""

from __future__ import annotations

import json
from functools import cache
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import analyze, analyze_study, format_report, read_long_csv, result_to_json

DATA = Path(__file__).parent / "data"


@cache
def reference() -> dict:
    return json.loads((DATA / "sp_a_expected.json").read_text())["iMRMC"]["Ustat"]


@cache
def analysed():
    return analyze_study(read_long_csv(DATA / "sp_a.csv"), method="ustat")


def test_split_plot_matches_imrmc_ustat():
    result = analysed()
    difference = reference()["difference_1_minus_2"]
    assert result.treatment_means == pytest.approx([difference["auc_A"], difference["auc_B"]], abs=1e-14)
    assert result.covariance[0, 0] == pytest.approx(difference["var_auc_A"], abs=1e-14)
    assert result.covariance[1, 1] == pytest.approx(difference["var_auc_B"], abs=1e-14)
    ours = result.differences[0]
    assert ours.label == "1 - 2"
    assert ours.estimate == pytest.approx(difference["estimate_A_minus_B"], abs=1e-14)
    assert ours.variance == pytest.approx(difference["var_diff"], abs=1e-14)
    assert ours.se == pytest.approx(difference["se"], abs=1e-13)
    assert abs(ours.statistic) == pytest.approx(difference["z_or_t"], abs=1e-11)
    for estimate, name in zip(
        result.treatment_estimates + result.differences,
        ("modality_1", "modality_2", "difference_1_minus_2"),
        strict=True,
    ):
        expected = reference()[name]
        if name.startswith("modality"):
            assert estimate.variance == pytest.approx(expected["var_auc"], abs=1e-14)
            assert estimate.statistic == pytest.approx(expected["z_or_t"], abs=1e-11)
        normal, bdg = expected["normal"], expected["BDG"]
        assert estimate.p_normal == pytest.approx(normal["p"], rel=1e-10)
        assert estimate.ci_normal == pytest.approx((normal["ci_lower"], normal["ci_upper"]), abs=1e-12)
        assert estimate.df == pytest.approx(bdg["df"], rel=1e-11)
        assert estimate.df_used == bdg["df_used_for_t"]
        assert estimate.p == pytest.approx(bdg["p"], rel=1e-10)
        assert estimate.ci == pytest.approx((bdg["ci_lower"], bdg["ci_upper"]), abs=1e-12)
    for reader, aucs in difference["reader_auc"].items():
        assert result.fom_table[:, int(reader) - 1] == pytest.approx(aucs, abs=1e-15)


def test_json_and_report_name_the_method():
    document = result_to_json(analysed())
    assert document["method"] == "ustat" and document["design"]["kind"] == "split_plot"
    assert document["reader_weights"]["1"]["1"] == 40 * 40
    assert "MRMC analysis (U-statistics)" in format_report(analysed())


def _direct(ratings, truth):
    """Pair-weighted means and their covariance by enumerating every kernel product."""
    n_t, n_r, _ = ratings.shape
    kernels = {}
    for t, r in product(range(n_t), range(n_r)):
        row = ratings[t, r]
        for i, j in product(np.flatnonzero(truth), np.flatnonzero(~truth)):
            if not (np.isnan(row[i]) or np.isnan(row[j])):
                kernels[t, r, i, j] = float(row[i] > row[j]) + 0.5 * float(row[i] == row[j])
    means = np.array([np.mean([v for (tt, _, _, _), v in kernels.items() if tt == t]) for t in range(n_t)])
    cov = np.empty((n_t, n_t))
    for t, u in product(range(n_t), repeat=2):
        first = [(k, v) for k, v in kernels.items() if k[0] == t]
        second = [(k, v) for k, v in kernels.items() if k[0] == u]
        products = [
            a * b for (ka, a), (kb, b) in product(first, second) if ka[1] != kb[1] and ka[2] != kb[2] and ka[3] != kb[3]
        ]
        cov[t, u] = means[t] * means[u] - np.mean(products)
    return means, cov


def test_missing_reads_weight_readers_by_case_pairs():
    rng = np.random.default_rng(3)
    truth = np.r_[np.zeros(5, bool), np.ones(4, bool)]
    ratings = rng.integers(1, 5, size=(2, 3, truth.size)).astype(float) + truth
    for t, r, c in [(0, 0, 1), (1, 0, 1), (0, 2, 6), (1, 1, 3), (0, 1, 0)]:
        ratings[t, r, c] = np.nan
    result = analyze(ratings, truth, method="ustat")
    means, cov = _direct(ratings, truth)
    assert result.design.kind == "partially_paired"
    np.testing.assert_allclose(result.treatment_means, means, rtol=0, atol=1e-15)
    np.testing.assert_allclose(result.covariance, cov, rtol=0, atol=1e-15)
    assert result.reader_weights[0, 0] == 4 * 4 and result.reader_weights[0, 2] == 3 * 5


def test_ustat_is_auc_only():
    with pytest.raises(ValueError, match="fom='auc' only"):
        analyze_study(read_long_csv(DATA / "sp_a.csv"), method="ustat", fom="sens", threshold=0.5)


def test_bdg_df_is_floored_at_the_smallest_component_df():
    from mrmc.stats.ustatistics import bdg_df

    freedom = np.array([79.0, 79.0, 5.0])
    assert bdg_df(1e-3, np.array([1.0, 1.0, 1.0]), freedom) == 5.0
    # variance^2 / sum (MS/df)^2/df, worked by hand: 9e-6 / (2 (0.079/79)^2/79 + (0.005/5)^2/5) = 39.94...
    expected = 9e-6 / (2 * (0.079 / 79) ** 2 / 79 + (0.005 / 5) ** 2 / 5)
    assert expected > 5
    assert bdg_df(3e-3, np.array([0.079, 0.079, 0.005]), freedom) == pytest.approx(expected, rel=1e-14)
