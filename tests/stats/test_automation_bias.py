"""The automation-bias analysis on a study counted by hand (tests/stats/automation_bias_study.py)."""

import numpy as np
import pytest
from automation_bias_study import AI_SCORES, ARMS, OPERATING_POINT, RATINGS, READERS, THRESHOLD, TRUTH
from scipy import stats

from mrmc.stats.automation_bias import automation_bias


def _analysis(ratings=RATINGS, readers=READERS, sequential=True):
    calls = np.where(np.isnan(ratings), np.nan, ratings >= THRESHOLD)
    return automation_bias(ratings, calls, TRUTH, AI_SCORES, operating_point=OPERATING_POINT, arms=ARMS,
                           readers=readers, sequential=sequential)


def _by_name(items, name, key):
    return next(item for item in items if getattr(item, key) == name)


def test_the_strata_follow_the_ais_call_at_its_operating_point():
    result = _analysis()
    calls = result.ai_calls
    assert (calls.true_positive, calls.true_negative, calls.false_negative, calls.false_positive) == (3, 3, 2, 2)
    right, wrong = result.strata
    assert (right.stratum, right.n_cases, right.n_diseased, right.n_normal) == ("AI correct", 6, 3, 3)
    assert (wrong.stratum, wrong.n_cases, wrong.n_diseased, wrong.n_normal) == ("AI wrong", 4, 2, 2)


def test_reader_averaged_measures_per_stratum_and_arm():
    right, wrong = _analysis().strata
    expected = {
        # AI wrong: sensitivity over C001, C003; specificity over C000, C002
        ("AI wrong", "sensitivity"): ((0.5 + 0.5) / 2, (0 + 1) / 2),
        ("AI wrong", "specificity"): ((1 + 1) / 2, (0.5 + 1) / 2),
        # AUC: R01 unaided D {80, 40} over N {20, 30}: 4/4; aided D {30, 40} over N {70, 40}: one tie, 0.5/4
        ("AI wrong", "auc"): ((1 + 1) / 2, (0.125 + 1) / 2),
        # AI correct: sensitivity over C005, C007, C009; specificity over C004, C006, C008
        ("AI correct", "sensitivity"): ((1 / 3 + 1) / 2, (1 + 2 / 3) / 2),
        ("AI correct", "specificity"): ((2 / 3 + 1) / 2, (1 + 1) / 2),
        # R01 unaided D {45, 40, 90} over N {60, 10, 20}: 7/9; R02 aided D {40, 70, 70} over N {10, 20, 40}: 8.5/9
        ("AI correct", "auc"): ((7 / 9 + 1) / 2, (1 + 8.5 / 9) / 2),
    }
    for stratum in (right, wrong):
        for measure in stratum.measures:
            unaided, aided = expected[stratum.stratum, measure.measure]
            assert measure.reason is None and measure.generalization == "rrrc"
            assert (measure.unaided, measure.aided) == (pytest.approx(unaided), pytest.approx(aided))
            assert measure.difference == pytest.approx(aided - unaided)
            assert measure.difference_ci[0] < measure.difference < measure.difference_ci[1]
    assert [m.n_cases for m in wrong.measures] == [2, 2, 4]


def test_each_reader_helped_or_harmed_on_each_stratum():
    right, wrong = _analysis().strata
    # AI wrong: R01 right on C000-C002 unaided, only on C002 aided; R02 wrong on C003 unaided only
    r01, r02 = _by_name(wrong.readers, "R01", "reader"), _by_name(wrong.readers, "R02", "reader")
    assert (r01.n_cases, r01.correct_unaided, r01.correct_aided, r01.became_wrong, r01.became_right) == (4, 3, 1, 2, 0)
    assert (r01.accuracy_unaided, r01.accuracy_aided, r01.effect) == (0.75, 0.25, "harmed")
    assert (r02.correct_unaided, r02.correct_aided, r02.became_wrong, r02.became_right, r02.effect) == (
        3, 4, 0, 1, "helped")
    assert (wrong.harmed, wrong.helped, wrong.unchanged) == (1, 1, 0)
    # AI correct: R01 wrong on C004, C005, C007 unaided and on none aided; R02 wrong aided on C005 only
    r01, r02 = _by_name(right.readers, "R01", "reader"), _by_name(right.readers, "R02", "reader")
    assert (r01.correct_unaided, r01.correct_aided, r01.became_right, r01.effect) == (3, 6, 3, "helped")
    assert (r02.correct_unaided, r02.correct_aided, r02.became_wrong, r02.effect) == (6, 5, 1, "harmed")


def test_sequential_score_changes_toward_and_away_from_the_ai():
    right, wrong = _analysis().strata
    # AI wrong: R01 C000 up (AI +), C001 down (AI -), C002 up (AI +) toward; R02 C000 up toward, C003 up away
    assert (wrong.shifts.n_reads, wrong.shifts.toward_ai, wrong.shifts.away_from_ai, wrong.shifts.unchanged) == (
        8, 4, 1, 3)
    # calls: R01 C000 to positive and C001 to negative, as the AI; R02 C003 to positive, against it
    assert (wrong.shifts.calls_to_ai, wrong.shifts.calls_from_ai) == (2, 1)
    # AI correct: R01 C004, C005, C007 toward, C008, C009 away; R02 C006, C007 toward, C005 away
    assert (right.shifts.n_reads, right.shifts.toward_ai, right.shifts.away_from_ai, right.shifts.unchanged) == (
        12, 5, 3, 4)
    assert (right.shifts.calls_to_ai, right.shifts.calls_from_ai) == (3, 1)


def test_no_shifts_outside_a_sequential_design():
    assert all(stratum.shifts is None for stratum in _analysis(sequential=False).strata)


def test_one_readers_difference_interval_is_the_paired_proportions_interval():
    """With one reader the fixed-reader interval of aided minus unaided specificity is the z interval of the
    mean paired difference of correct calls, with the sample variance over the class's cases divided by n."""
    result = _analysis(ratings=RATINGS[:, :1], readers=READERS[:1])
    measure = _by_name(result.strata[0].measures, "specificity", "measure")
    normal = ~TRUTH & (AI_SCORES < OPERATING_POINT)  # the AI's true negatives: C004, C006, C008
    correct = RATINGS[:, 0][:, normal] < THRESHOLD
    paired = correct[1].astype(float) - correct[0]
    half_width = stats.norm.ppf(0.975) * np.sqrt(paired.var(ddof=1) / paired.size)
    assert measure.generalization == "frrc"
    assert measure.difference == pytest.approx(paired.mean())
    assert measure.difference_ci == pytest.approx((paired.mean() - half_width, paired.mean() + half_width))


def test_missing_reads_leave_the_tables_out_and_count_each_readers_paired_cases():
    ratings = RATINGS.copy()
    ratings[1, 0, 0] = np.nan  # R01 did not read C000 with the AI
    wrong = _analysis(ratings=ratings).strata[1]
    assert all(measure.reason == "needs every reader to read every case in both arms" for measure in wrong.measures)
    r01 = _by_name(wrong.readers, "R01", "reader")
    assert (r01.n_cases, r01.correct_unaided, r01.correct_aided, r01.effect) == (3, 2, 1, "harmed")
    assert wrong.shifts.n_reads == 7


def test_a_stratum_of_one_class_says_what_it_cannot_compute():
    scores = np.where(TRUTH, AI_SCORES, 0.0)  # no AI false positive: the AI-wrong cases are all diseased
    calls = (RATINGS >= THRESHOLD).astype(float)
    wrong = automation_bias(RATINGS, calls, TRUTH, scores, operating_point=OPERATING_POINT, arms=ARMS,
                            readers=READERS).strata[1]
    reasons = {measure.measure: measure.reason for measure in wrong.measures}
    assert reasons == {"sensitivity": None, "specificity": "fewer than two non-diseased cases",
                       "auc": "the stratum has cases of one class only"}
