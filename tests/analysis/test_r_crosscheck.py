"""The MRMCaov cross-check: its summary read in MRMCaov 0.3.0's shape (and the earlier one), any
failure kept in the cross-check's section, and MRMCaov itself where it is installed."""

import logging
import shutil
import subprocess

import numpy as np
import pytest
from scipy import stats

from mrmc.stats import ReaderStudy
from mrmc.stats.r_crosscheck import CrossCheckError, first_difference, mrmcaov_available, mrmcaov_rrrc
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

# A stand-in MRMCaov: mrmc() with 0.3.0's arguments (an unknown one is an R error), reader-averaged
# empirical AUCs of the rows it is given, and summary() in 0.3.0's shape with a fixed SE and df.
STAND_IN = {
    "DESCRIPTION": "Package: MRMCaov\nVersion: 0.3.0\nTitle: Stand-in\nDescription: Stand-in.\nLicense: GPL-3\n",
    "NAMESPACE": "export(mrmc, empirical_auc, jackknife, DeLong, unbiased)\nS3method(summary, mrmc)\n",
    "R/mrmc.R": """
empirical_auc <- function(truth, rating) {
  pos <- rating[truth == 1]; neg <- rating[truth == 0]
  mean(outer(pos, neg, ">") + 0.5 * outer(pos, neg, "=="))
}
jackknife <- DeLong <- unbiased <- function(data) NULL
mrmc <- function(response, test, reader, case, data, method = jackknife, design = NULL) {
  metric <- substitute(response)
  stopifnot(identical(metric[[1]], as.name("empirical_auc")), method %in% c("jackknife", "DeLong", "unbiased"))
  test_name <- deparse(substitute(test)); reader_name <- deparse(substitute(reader))
  tests <- unique(as.character(data[[test_name]]))
  means <- sapply(tests, function(level) {
    rows <- data[data[[test_name]] == level, ]
    mean(sapply(split(rows, rows[[reader_name]]), function(r) eval(metric, r)))
  })
  structure(list(means = means, method = method), class = c("mrmc_rrrc", "mrmc"))
}
summary.mrmc <- function(object, conf.level = 0.95, ...) {
  levels <- names(object$means)
  test_diffs <- data.frame(Comparison = paste(levels[1], "-", levels[2]),
                           Estimate = object$means[[1]] - object$means[[2]], StdErr = 0.02, df = 15)
  test_diffs$CI <- with(test_diffs, Estimate + qt((1 + conf.level) / 2, df) * StdErr %o% c(Lower = -1, Upper = 1))
  test_diffs$t <- with(test_diffs, Estimate / StdErr)
  test_diffs$`p-value` <- with(test_diffs, 2 * (1 - pt(abs(t), df)))
  structure(list(conf.level = conf.level, test_diffs = test_diffs), class = c("summary.mrmc_rrrc", "summary.mrmc"))
}
""",
}


@pytest.fixture
def stand_in_mrmcaov(r, tmp_path):
    """The stand-in installed in a library R searches first, unloaded and forgotten afterwards."""
    if MRMCAOV or shutil.which("R") is None:
        pytest.skip("the real MRMCaov is installed (tested below), or R's installer is missing")
    for name, text in STAND_IN.items():
        (tmp_path / "MRMCaov" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "MRMCaov" / name).write_text(text)
    library = tmp_path / "library"
    library.mkdir()
    subprocess.run(["R", "CMD", "INSTALL", f"--library={library}", str(tmp_path / "MRMCaov")], check=True,
                   capture_output=True, timeout=120)
    before = r(".libPaths()")
    r(f'.libPaths(c("{library}", .libPaths()))')
    yield
    r('if ("MRMCaov" %in% loadedNamespaces()) unloadNamespace("MRMCaov")')
    r[".libPaths"](before)


def test_the_crosscheck_calls_mrmc_as_mrmcaov_0_3_0_takes_it(stand_in_mrmcaov, r):
    # truth 0 0 1 1. unaided: R1 AUC 1, R2 AUC 3/4; aided: R1 AUC 1, R2 AUC 0, and R2 did not read C4 aided
    # (AUC over C1-C3: 1 positive (C3 rated 2) vs C1 (4), C2 (3): 0). Means 0.875 and 0.5.
    nan = np.nan
    ratings = np.array([[[1, 2, 3, 4], [1, 3, 2, 4]], [[2, 1, 4, 3], [4, 3, 2, nan]]], dtype=float)
    study = ReaderStudy(ratings, np.array([False, False, True, True]), ("unaided", "aided"), ("R1", "R2"),
                        ("C1", "C2", "C3", "C4"))
    difference = mrmcaov_rrrc(study, cov="delong")
    assert difference["available"] and difference["comparison"] == "1_unaided - 2_aided"  # named to sort in the study order
    assert difference["estimate"] == pytest.approx(0.375, abs=1e-12)
    assert (difference["se"], difference["df"]) == (0.02, 15)
    assert r("nrow(mrmc_data)")[0] == 15  # the read that does not exist is not sent


@pytest.mark.skipif(not MRMCAOV, reason=f"MRMCaov cannot be loaded here: {WHY_NOT}")
def test_real_mrmcaov_matches_the_primary_analysis(read_study, statistician, run_analysis):
    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    section, ours = run.results["r_crosscheck"], run.results["primary"]["rrrc"]["differences"][0]
    assert section["available"], section
    assert abs(section["estimate"]) == pytest.approx(abs(ours["estimate"]), rel=1e-8)
    assert section["se"] == pytest.approx(ours["se"], rel=1e-8)
    assert section["df"] == pytest.approx(ours["df"], rel=1e-6)
    assert section["p"] == pytest.approx(ours["p"], rel=1e-6)


def test_a_run_shows_mrmcaov_beside_its_own_difference(stand_in_mrmcaov, read_study, statistician, run_analysis):
    from studies.reports import render_html

    run = run_analysis(actor=statistician, study=read_study(n_cases=30), options={"r_crosscheck": True})
    section, ours = run.results["r_crosscheck"], run.results["primary"]["rrrc"]["differences"][0]
    assert run.status == AnalysisRun.Status.SUCCEEDED and section["available"], section
    assert abs(section["estimate"]) == pytest.approx(abs(ours["estimate"]), abs=1e-12)  # the same reader-averaged AUCs
    html = render_html(run)
    assert f"MRMCaov ({section['comparison']})" in html and f"This platform ({' - '.join(ours['treatments'])})" in html
