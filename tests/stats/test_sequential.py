"""Score changes in sequential reading, on a case small enough to count by hand."""

import numpy as np

from mrmc.stats.sequential import score_changes


def test_counts_by_direction_truth_and_decision():
    truth = np.array([True, True, False, False])
    unaided = np.array([[40, 60, 55, 20], [10, 70, 30, 30]])
    aided = np.array([[60, 60, 45, 25], [10, 80, 60, 20]])
    result = score_changes(unaided, aided, truth, threshold=50)
    # changes: r1: +20 (D), 0 (D), -10 (N), +5 (N); r2: 0 (D), +10 (D), +30 (N), -10 (N)
    assert (result.increased, result.decreased, result.unchanged) == (4, 2, 2)
    assert (result.increased_diseased, result.decreased_diseased) == (2, 0)
    assert (result.increased_normal, result.decreased_normal) == (2, 2)
    assert result.mean_change_diseased == 30 / 4
    assert result.mean_change_normal == 15 / 4
    # calls at 50: r1 case1 40->60 (corrected), r1 case3 55->45 (corrected), r2 case3 30->60 (spoiled)
    assert (result.decision_to_positive, result.decision_to_negative) == (2, 1)
    assert (result.decision_corrected, result.decision_spoiled) == (2, 1)


def test_without_threshold_no_decision_counts():
    result = score_changes(np.zeros((2, 2)), np.ones((2, 2)), np.array([True, False]))
    assert result.decision_to_positive is None and result.increased == 4
