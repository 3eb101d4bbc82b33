"""Optional cross-check of an OR analysis with R's MRMCaov through rpy2."""

from __future__ import annotations

from .data import ReaderStudy

HOW_TO_INSTALL = (
    "Install R (Debian: apt-get install r-base-core), the Python bridge (pip install rpy2==3.5.17) "
    "and MRMCaov in R (install.packages('MRMCaov') from CRAN, or remotes::install_github('brian-j-smith/MRMCaov'))."
)


def mrmcaov_available() -> tuple[bool, str]:
    """Whether rpy2, R and the MRMCaov package can be loaded, and why not."""
    try:
        from rpy2.robjects.packages import PackageNotInstalledError, importr
    except Exception as exc:  # ImportError, or an R library that fails to load
        return False, f"rpy2/R not available: {exc}"
    try:
        importr("MRMCaov")
    except PackageNotInstalledError:
        return False, "the R package MRMCaov is not installed"
    return True, ""


def mrmcaov_rrrc(study: ReaderStudy, *, cov: str = "jackknife") -> dict:
    """MRMCaov's RRRC treatment difference for ``study`` (empirical AUC), or why it cannot run.

    Returns a dict with ``available`` and, when it is, MRMCaov's estimate, standard error,
    F statistic, denominator df, p value and confidence interval of the first treatment
    difference, to be shown beside ours.

    References
    ----------
    Smith BJ, Hillis SL (2020). Multi-reader multi-case analysis of variance software
    for diagnostic performance comparison of imaging modalities. Proc SPIE 11316.
    """
    available, reason = mrmcaov_available()
    if not available:
        return {"available": False, "reason": reason, "how_to_install": HOW_TO_INSTALL}
    import rpy2.robjects as ro

    ro.globalenv["mrmc_data"] = _data_frame(ro, study)
    method = {"jackknife": "jackknife", "delong": "DeLong", "unbiased": "unbiased"}.get(cov, "jackknife")
    ro.r(
        f"fit <- MRMCaov::mrmc(empirical_auc(truth, rating), treatment, reader, case, data = mrmc_data,"
        f" cov = MRMCaov::{method})"
    )
    ro.r("s <- summary(fit)")
    row = ro.r("as.list(s$test_trt_diffs[1, ])")
    values = {name: row.rx2(name)[0] for name in row.names}
    return {
        "available": True,
        "estimate": float(values["Estimate"]),
        "se": float(values["StdErr"]),
        "df": float(values["df"]),
        "ci": [float(values["CI.Lower"]), float(values["CI.Upper"])],
        "p": float(values["p.value"]),
    }


def _data_frame(ro, study: ReaderStudy):
    n_t, n_r, n_c = study.ratings.shape
    cells = [(t, r, c) for t in range(n_t) for r in range(n_r) for c in range(n_c)]
    return ro.DataFrame(
        {
            "reader": ro.StrVector([study.readers[r] for _, r, _ in cells]),
            "treatment": ro.StrVector([study.treatments[t] for t, _, _ in cells]),
            "case": ro.StrVector([study.cases[c] for _, _, c in cells]),
            "truth": ro.IntVector([int(study.truth[c]) for _, _, c in cells]),
            "rating": ro.FloatVector([float(study.ratings[t, r, c]) for t, r, c in cells]),
        }
    )
