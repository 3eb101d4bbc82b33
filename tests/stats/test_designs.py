"""Split-plot and partially paired studies: the design found, and the OR analysis over the reads that exist.

Reference: tests/stats/data/sp_a.csv and sp_a_expected.json (copied from shared/refs/designs):
a simulated split-plot study (6 readers in 2 groups, 80 cases per group) with the full-precision
results of MRMCaov 0.3.0, e.g.

#> mrmc(empirical_auc(truth, rating), treatment, reader, case, data = sp_a, cov = jackknife)
#> mrmc(empirical_auc(truth, rating), treatment, reader, case, data = sp_a, cov = unbiased)

Studies with missing reads are checked against direct computations written here from the
definitions (each AUC recomputed with one case left out; MRMCaov's unbiased covariance from
explicit kernel matrices over common cases), not from the code under test.
"""

from __future__ import annotations

import json
from functools import cache
from itertools import product
from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import StudyDataError, analyze, analyze_study, format_report, read_long_csv, result_to_json

DATA = Path(__file__).parent / "data"
TOLERANCE = 1e-12


@cache
def reference() -> dict:
    return json.loads((DATA / "sp_a_expected.json").read_text())


@cache
def split_plot():
    return read_long_csv(DATA / "sp_a.csv")


@cache
def analysed(cov: str):
    return analyze_study(split_plot(), cov=cov)


def test_split_plot_design_is_found_with_its_groups():
    design = analysed("jackknife").design
    expected = reference()["design"]
    assert design.kind == "split_plot"
    assert design.n_missing == 0 and design.missing == ()
    assert [list(map(int, block.readers)) for block in design.blocks] == [b["readers"] for b in expected["blocks"]]
    assert [(b.n_normal, b.n_abnormal) for b in design.blocks] == [
        (b["n_normal"], b["n_abnormal"]) for b in expected["blocks"]
    ]
    assert {c.n_reads for c in design.cells} == {80}


def test_split_plot_defaults_to_mrmcaov_convention_and_fully_crossed_to_iowa():
    assert analysed("jackknife").convention == "mrmcaov"
    crossed = read_long_csv(DATA / "vandyke.csv")
    result = analyze_study(crossed)
    assert result.convention == "iowa"
    assert result.design.kind == "fully_crossed"


@pytest.mark.parametrize("cov", ["jackknife", "unbiased"])
def test_split_plot_matches_mrmcaov(cov):
    expected = reference()["MRMCaov"]
    result = analysed(cov)
    analysis = result.analysis
    for row in expected["reader_test_auc"]:
        value = result.fom_table[int(row["treatment"]) - 1, int(row["reader"]) - 1]
        assert value == pytest.approx(row["auc"], abs=TOLERANCE)
    anova = expected["anova"]
    assert analysis.mean_squares.ms_t == pytest.approx(anova["MS_T"], abs=TOLERANCE)
    assert analysis.mean_squares.ms_r == pytest.approx(anova["MS_R"], abs=TOLERANCE)
    assert analysis.mean_squares.ms_tr == pytest.approx(anova["MS_TR"], abs=TOLERANCE)
    own = expected[cov]
    np.testing.assert_allclose(result.covariance, np.array(own["cov_matrix"]["values"]), rtol=0, atol=TOLERANCE)
    for name, value in own["var_components"].items():
        assert getattr(analysis.var_components, name) == pytest.approx(value, abs=TOLERANCE)
    _check_rrrc(analysis.rrrc, own["RRRC"])
    _check_frrc(analysis.frrc, own["FRRC"])
    _check_rrfc(analysis.rrfc, expected["RRFC"])


def _check_difference(ours, theirs, statistic_key):
    assert ours.treatments == ("1", "2")
    assert ours.estimate == pytest.approx(theirs["estimate"], abs=TOLERANCE)
    assert ours.se == pytest.approx(theirs["se"], abs=TOLERANCE)
    assert ours.statistic == pytest.approx(theirs[statistic_key], abs=1e-10)
    assert ours.p == pytest.approx(theirs["p"], abs=1e-10)
    assert ours.ci == pytest.approx((theirs["ci_lower"], theirs["ci_upper"]), abs=1e-10)
    if "df" in theirs:
        assert ours.df == pytest.approx(theirs["df"], abs=1e-10)


def _check_single(intervals, expected):
    for ours, theirs in zip(intervals, expected, strict=True):
        assert ours.estimate == pytest.approx(theirs["estimate"], abs=TOLERANCE)
        assert ours.se == pytest.approx(theirs["se"], abs=TOLERANCE)
        assert ours.ci == pytest.approx((theirs["ci_lower"], theirs["ci_upper"]), abs=1e-10)
        if "df" in theirs:
            assert ours.df == pytest.approx(theirs["df"], abs=1e-10)


def _check_rrrc(ours, theirs):
    assert ours.test.statistic == pytest.approx(theirs["F"], abs=1e-10)
    assert ours.test.df2 == pytest.approx(theirs["df2"], abs=1e-10)
    assert ours.test.p == pytest.approx(theirs["p"], abs=1e-10)
    assert ours.test.denominator == pytest.approx(theirs["denominator"], abs=TOLERANCE)
    _check_difference(ours.differences[0], theirs["diffs"][0], "t")
    _check_single(ours.treatment_ci, theirs["single"])


def _check_frrc(ours, theirs):
    assert ours.test.statistic == pytest.approx(theirs["X2"], abs=1e-10)
    assert ours.test.p == pytest.approx(theirs["p"], abs=1e-10)
    _check_difference(ours.differences[0], theirs["diffs"][0], "z")
    _check_single(ours.treatment_ci, theirs["single"])
    for difference, expected in zip(ours.reader_differences, theirs["reader_diffs"], strict=True):
        assert difference.reader == str(expected["reader"])
        _check_difference(difference, expected, "z")


def _check_rrfc(ours, theirs):
    assert ours.test.statistic == pytest.approx(theirs["F"], abs=1e-10)
    assert ours.test.p == pytest.approx(theirs["p"], abs=1e-10)
    _check_difference(ours.differences[0], theirs["diffs"][0], "t")
    _check_single(ours.treatment_ci, theirs["single"])


@pytest.mark.parametrize("cov", ["delong", "bootstrap"])
def test_covariances_that_need_a_fully_crossed_study_are_refused(cov):
    with pytest.raises(StudyDataError, match=rf"cov='{cov}' needs a fully crossed study.*this study is split-plot"):
        analyze_study(split_plot(), cov=cov)


def test_json_and_report_name_design_method_and_convention():
    document = result_to_json(analysed("unbiased"))
    assert document["design"]["kind"] == "split_plot"
    assert [block["readers"] for block in document["design"]["blocks"]] == [["1", "2", "3"], ["4", "5", "6"]]
    assert document["method"] == "or" and document["convention"] == "mrmcaov"
    text = format_report(analysed("unbiased"))
    assert "Design: split-plot (960 reads, 0 missing)" in text
    assert "reader group 2: readers 4, 5, 6; 40 normal + 40 abnormal cases" in text


# --- partially paired: direct computations from the definitions -------------------------------------


def _psi(diseased: np.ndarray, normal: np.ndarray) -> np.ndarray:
    return (diseased[:, None] > normal[None, :]) + 0.5 * (diseased[:, None] == normal[None, :])


def _cell_auc(ratings, truth, keep):
    return _psi(ratings[keep & truth], ratings[keep & ~truth]).mean()


def _direct_jackknife(ratings, truth):
    n_t, n_r, n_cases = ratings.shape
    read = ~np.isnan(ratings)
    left_out = np.empty((n_t * n_r, n_cases))
    for (t, r), k in product(product(range(n_t), range(n_r)), range(n_cases)):
        keep = read[t, r].copy()
        keep[k] = False
        left_out[t * n_r + r, k] = _cell_auc(ratings[t, r], truth, keep)
    centred = left_out - left_out.mean(axis=1, keepdims=True)
    return (n_cases - 1) / n_cases * centred @ centred.T


def _direct_unbiased(ratings, truth):
    """MRMCaov 0.3 unbiased_default: over the common cases of each pair of cells, all pairs of
    (diseased, non-diseased) pairs sharing no case, by explicit enumeration."""
    cells = ratings.reshape(-1, ratings.shape[-1])
    kernels = []
    for row in cells:
        kernel = np.full((truth.sum(), (~truth).sum()), np.nan)
        d, n = ~np.isnan(row[truth]), ~np.isnan(row[~truth])
        kernel[np.ix_(d, n)] = _psi(row[truth][d], row[~truth][n])
        kernels.append(kernel)
    cov = np.empty((len(cells), len(cells)))
    for a, b in product(range(len(cells)), repeat=2):
        x, y = kernels[a], kernels[b]
        products = []
        for i, j in zip(*np.nonzero(~np.isnan(x)), strict=True):
            others = y.copy()
            others[i, :] = np.nan
            others[:, j] = np.nan
            products.append(x[i, j] * others[~np.isnan(others)])
        cov[a, b] = np.nanmean(x) * np.nanmean(y) - np.concatenate(products).mean()
    return cov


def _with_missing_reads(seed: int = 7):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(7, bool), np.ones(6, bool)]
    ratings = rng.integers(1, 6, size=(2, 3, truth.size)).astype(float) + truth
    for t, r, c in [(0, 0, 1), (1, 0, 1), (0, 2, 8), (1, 1, 3), (1, 2, 12), (0, 1, 0)]:
        ratings[t, r, c] = np.nan
    return ratings, truth


def test_missing_reads_are_counted_and_named():
    ratings, truth = _with_missing_reads()
    result = analyze(ratings, truth, cases=[f"c{k}" for k in range(truth.size)])
    design = result.design
    assert design.kind == "partially_paired"
    assert design.n_missing == 6 and design.n_reads == ratings.size - 6
    assert ("2", "3", "c12") in design.missing
    assert {(c.treatment, c.reader): c.n_missing for c in design.cells}[("1", "1")] == 1
    assert result.convention == "mrmcaov"


@pytest.mark.parametrize("cov, direct", [("jackknife", _direct_jackknife), ("unbiased", _direct_unbiased)])
def test_missing_reads_covariance_matches_the_definition(cov, direct):
    ratings, truth = _with_missing_reads()
    result = analyze(ratings, truth, cov=cov)
    np.testing.assert_allclose(result.covariance, direct(ratings, truth), rtol=0, atol=1e-14)
    for t, r in product(range(2), range(3)):
        expected = _cell_auc(ratings[t, r], truth, ~np.isnan(ratings[t, r]))
        assert result.fom_table[t, r] == pytest.approx(expected, abs=1e-15)


def test_unbiased_split_plot_covariance_matches_the_definition():
    rows = split_plot()
    keep = [0, 1, 2, 3] + [40, 41, 42] + [80, 81, 82] + [120, 121, 122, 123]  # a few cases of each block
    ratings, truth = rows.ratings[..., keep], rows.truth[keep]
    result = analyze(ratings, truth, cov="unbiased")
    np.testing.assert_allclose(result.covariance, _direct_unbiased(ratings, truth), rtol=0, atol=1e-14)


def test_reads_too_few_for_a_cell_are_refused_with_the_cell_named():
    ratings, truth = _with_missing_reads()
    ratings[1, 2, truth] = np.nan
    ratings[1, 2, np.flatnonzero(truth)[0]] = 3.0
    with pytest.raises(StudyDataError, match="reader '3' has 1 diseased read.* in treatment '2'"):
        analyze(ratings, truth)


def test_partial_auc_is_refused_for_designs_not_fully_crossed():
    ratings, truth = _with_missing_reads()
    with pytest.raises(StudyDataError, match="fom='pauc' is not available"):
        analyze(ratings, truth, fom="pauc")
