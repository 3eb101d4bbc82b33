"""The MRMCaov cross-check: its summary read in MRMCaov 0.3.0's shape (and the earlier one), any
failure kept in the cross-check's section, and MRMCaov itself where it is installed."""

import logging

import pytest
from scipy import stats

from mrmc.stats.r_crosscheck import CrossCheckError, first_difference, mrmcaov_available
from studies.models import AnalysisRun

# As MRMCaov 0.3.0's .summary.mrmc_rrrc builds test_diffs (R/summary.R): CI is a matrix column
# (Lower, Upper) and the p value column is named "p-value".
SUMMARY_0_3_0 = """
local({
  test_diffs <- data.frame(Comparison = "aided - unaided", Estimate = 0.043, StdErr = 0.015, df = 20.5)
  test_diffs$CI <- with(test_diffs, Estimate + qt((1 + 0.95) / 2, df) * StdErr %o% c(Lower = -1, Upper = 1))
  test_diffs$t <- with(test_diffs, Estimate / StdErr)
  test_diffs$`p-value` <- with(test_diffs, 2 * (1 - pt(abs(t), df)))
  structure(list(conf.level = 0.95, test_diffs = test_diffs), class = c("summary.mrmc_rrrc", "summary.mrmc"))
})
"""
SUMMARY_BEFORE_0_3 = """
list(test_trt_diffs = data.frame(Estimate = 0.043, StdErr = 0.015, df = 20.5, CI.Lower = 0.01, CI.Upper = 0.07,
                                 t = 2.87, p.value = 0.009))
"""


@pytest.fixture(scope="module")
def r():
    return pytest.importorskip("rpy2.robjects", reason="rpy2 and R are needed to build R summaries").r


def test_reads_mrmcaov_0_3_0_summary(r):
    difference = first_difference(r(SUMMARY_0_3_0))
    half_width = stats.t.ppf(0.975, 20.5) * 0.015
    assert difference["comparison"] == "aided - unaided"
    assert (difference["estimate"], difference["se"], difference["df"]) == (0.043, 0.015, 20.5)
    assert difference["ci"] == pytest.approx([0.043 - half_width, 0.043 + half_width], abs=1e-12)
    assert difference["p"] == pytest.approx(2 * stats.t.sf(0.043 / 0.015, 20.5), abs=1e-12)


def test_reads_the_summary_of_earlier_versions(r):
    difference = first_difference(r(SUMMARY_BEFORE_0_3))
    assert difference["ci"] == [0.01, 0.07] and difference["p"] == 0.009 and difference["comparison"] is None


@pytest.mark.parametrize("summary,missing", [
    ("list(other = 1)", "test_diffs or test_trt_diffs"),
    ("NULL", "test_diffs or test_trt_diffs"),
    ("list(test_diffs = data.frame(Estimate = 0.1, StdErr = 0.1, df = 3, `p-value` = 0.4, check.names = FALSE))",
     "CI.Lower"),
])
def test_an_unexpected_summary_says_what_is_missing(r, summary, missing):
    with pytest.raises(CrossCheckError, match=missing):
        first_difference(r(summary))


def test_a_failing_crosscheck_is_recorded_and_the_run_succeeds(read_study, statistician, run_analysis, monkeypatch):
    def fails(study, *, cov):
        raise RuntimeError("Error in MRMCaov::mrmc: object 'truth' not found")

    monkeypatch.setattr("studies.services.analysis_sections.mrmcaov_rrrc", fails)
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    section = run.results["r_crosscheck"]
    assert section["requested"] and not section["available"]
    assert "RuntimeError" in section["reason"] and "object 'truth' not found" in section["reason"]


def test_without_mrmcaov_the_run_succeeds_and_says_why(read_study, statistician, run_analysis, monkeypatch):
    monkeypatch.setattr("mrmc.stats.r_crosscheck.mrmcaov_available",
                        lambda: (False, "the R package MRMCaov is not installed"))
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    assert run.status == AnalysisRun.Status.SUCCEEDED, run.error
    section = run.results["r_crosscheck"]
    assert section["reason"] == "the R package MRMCaov is not installed" and "MRMCaov" in section["how_to_install"]


logging.getLogger("rpy2.rinterface_lib.embedded").setLevel(logging.WARNING)  # R's exit message after pytest
MRMCAOV, WHY_NOT = mrmcaov_available()


@pytest.mark.skipif(not MRMCAOV, reason=f"MRMCaov cannot be loaded here: {WHY_NOT}")
def test_real_mrmcaov_matches_the_primary_analysis(read_study, statistician, run_analysis):
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    section, ours = run.results["r_crosscheck"], run.results["primary"]["rrrc"]["differences"][0]
    assert section["available"], section
    assert abs(section["estimate"]) == pytest.approx(abs(ours["estimate"]), rel=1e-8)
    assert section["se"] == pytest.approx(ours["se"], rel=1e-8)
    assert section["df"] == pytest.approx(ours["df"], rel=1e-6)
    assert section["p"] == pytest.approx(ours["p"], rel=1e-6)
