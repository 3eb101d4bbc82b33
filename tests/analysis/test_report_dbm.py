"""The DBM analysis printed beside OR: OR-DBM MRMC 2.51's numbers and the OR = DBM identity (Hillis 2005/2008)."""

import json
from pathlib import Path

import pytest

from mrmc.stats import FigureOfMerit, analyze_study, read_long_csv
from mrmc.stats.dbm import dbm_analysis

DATA = Path(__file__).parents[1] / "stats" / "data"
PRINTED = json.loads((DATA / "ordbm251_printed.json").read_text())["vandyke"]


@pytest.fixture(scope="module")
def vandyke():
    study = read_long_csv(DATA / "vandyke.csv")
    return study, dbm_analysis(FigureOfMerit("auc"), study.ratings, study.truth), analyze_study(study)


def _decimals(printed: str) -> int:
    return len(printed.split(".")[1])


def test_dbm_variance_components_are_the_printed_ones(vandyke):
    _, dbm, _ = vandyke
    for name, printed in PRINTED["dbm_var_components"].items():
        assert dbm.var_components[name] == pytest.approx(float(printed), abs=0.5 * 10 ** -_decimals(printed)), name


def test_dbm_f_test_is_the_printed_rrrc_test(vandyke):
    # OR-DBM MRMC 2.51, analysis 1 (a): F(1, 15.26) = 4.46, p = .0517
    _, dbm, _ = vandyke
    assert round(dbm.f, 2) == 4.46
    assert round(dbm.df2, 2) == 15.26
    assert round(dbm.p, 4) == 0.0517
    assert dbm.df1 == 1


def test_dbm_and_or_give_the_same_f_and_df_with_the_jackknife(vandyke):
    study, dbm, result = vandyke
    n_cases = len(study.cases)
    test = result.analysis.rrrc.test
    assert dbm.f == pytest.approx(test.statistic, rel=1e-10, abs=1e-10)
    assert dbm.df2 == pytest.approx(test.df2, rel=1e-10)
    assert dbm.p == pytest.approx(test.p, rel=1e-10)
    # the denominators differ by the factor c (pseudovalues are c times as variable as the AUCs)
    assert dbm.denominator == pytest.approx(n_cases * test.denominator, rel=1e-10)
    assert dbm.mean_squares["T"] == pytest.approx(n_cases * result.analysis.mean_squares.ms_t, rel=1e-10)


def test_pseudovalue_mean_squares_of_treatment_and_reader_match_the_printed_sums_of_squares(vandyke):
    study, dbm, _ = vandyke
    n_cases = len(study.cases)
    for source in ("T", "R", "TR"):
        printed = PRINTED["sum_of_squares"][source]
        or_sum_of_squares = dbm.mean_squares[source] * dbm.df[source] / n_cases
        assert or_sum_of_squares == pytest.approx(float(printed), abs=0.5 * 10 ** -_decimals(printed))


def test_dbm_difference_is_the_printed_rrrc_difference(vandyke):
    # OR-DBM MRMC 2.51, analysis 1 (b): 1 - 2  -0.04380  0.02075  15.26  -2.11  0.0517  (-0.08796, 0.00036)
    study, dbm, _ = vandyke
    assert study.treatments[:2] == ("1", "2")
    (difference,) = dbm.differences
    assert difference.treatments == (0, 1)
    assert round(difference.estimate, 5) == -0.04380
    assert round(difference.se, 5) == 0.02075
    assert round(difference.df, 2) == 15.26
    assert round(difference.p, 4) == 0.0517
    assert [round(bound, 5) for bound in difference.ci] == [-0.08796, 0.00036]


def test_dbm_fixed_case_test_is_the_printed_rrfc_test(vandyke):
    # OR-DBM MRMC 2.51, analysis 3 (a): F(1,4) = 8.70, p = .0420 (MS(T) over MS(T*R), the same in OR and DBM)
    _, dbm, _ = vandyke
    assert (round(dbm.rrfc["f"], 2), dbm.rrfc["df1"], dbm.rrfc["df2"], round(dbm.rrfc["p"], 4)) == (8.70, 1, 4, 0.0420)
    assert dbm.frrc["df2"] == 113 and dbm.frrc["f"] == pytest.approx(
        dbm.mean_squares["T"] / dbm.mean_squares["TC"], rel=1e-12)
