"""Subgroup OR analyses: the same result as analysing the subset directly, small groups flagged."""

import numpy as np
import pytest

from mrmc.stats import analyze, simulate_roe_metz
from mrmc.stats.subgroups import subgroup_analyses


def test_each_level_is_the_analysis_of_its_cases():
    ratings, truth = simulate_roe_metz(n_readers=4, n_normal=40, n_abnormal=40, treatment_effect=0.3, seed=1)
    site = np.where(np.arange(80) % 4 == 0, "B", "A")
    site[::13] = ""  # missing values form no subgroup
    results = subgroup_analyses(ratings, truth, {"site": site}, min_per_class=5, fom="auc")
    assert [r.level for r in results] == ["A", "B"]
    for result in results:
        members = site == result.level
        expected = analyze(ratings[..., members], truth[members], fom="auc")
        assert result.n_abnormal == int(truth[members].sum())
        assert result.result.treatment_means == pytest.approx(expected.treatment_means)
        assert result.result.analysis.rrrc.differences[0].p == pytest.approx(expected.analysis.rrrc.differences[0].p)


def test_small_subgroups_are_flagged_not_analysed():
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=30, n_abnormal=30, seed=2)
    rare = np.array(["common"] * 56 + ["rare"] * 4)
    results = {r.level: r for r in subgroup_analyses(ratings, truth, {"kind": rare}, min_per_class=5)}
    assert results["rare"].too_small and results["rare"].result is None
    assert not results["common"].too_small and results["common"].result is not None


def test_identifier_like_variables_are_skipped():
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=20, n_abnormal=20, seed=3)
    assert subgroup_analyses(ratings, truth, {"id": [str(i) for i in range(40)]}) == []
