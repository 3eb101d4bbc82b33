"""Optional cross-check of an OR analysis with R's MRMCaov through rpy2."""

from __future__ import annotations

import numpy as np

from .data import ReaderStudy
from .exports import names_in_given_order

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


class CrossCheckError(RuntimeError):
    """MRMCaov ran but its summary is not shaped as expected."""


def mrmcaov_rrrc(study: ReaderStudy, *, cov: str = "jackknife") -> dict:
    """MRMCaov's RRRC treatment difference for ``study`` (empirical AUC), or why it cannot run.

    Returns a dict with ``available`` and, when it is, MRMCaov's comparison label, estimate,
    standard error, denominator df, p value and confidence interval of the first treatment
    difference, to be shown beside ours. R errors and an unexpected summary raise.

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
    # mrmc() names the covariance method `method` (a function or its name); the metric stays unqualified
    # because mrmc() looks it up by name in its own namespace.
    ro.r(
        "fit <- MRMCaov::mrmc(empirical_auc(truth, rating), treatment, reader, case, data = mrmc_data,"
        f' method = "{method}")'
    )
    return {"available": True, **first_difference(ro.r("summary(fit)"))}


def first_difference(summary) -> dict:
    """The first treatment difference of an MRMCaov summary (an rpy2 list).

    MRMCaov 0.3.0 keeps the differences in ``test_diffs``, a data frame whose ``CI`` column is a
    matrix (columns ``Lower``, ``Upper``) and whose p value column is ``p-value``; earlier versions
    named them ``test_trt_diffs``, ``CI.Lower``/``CI.Upper`` and ``p.value``. Both are read.
    """
    diffs = _element(summary, "test_diffs", "test_trt_diffs")
    return {
        "comparison": str(_element(diffs, "Comparison")[0]) if "Comparison" in _names(diffs) else None,
        "estimate": _first_number(diffs, "Estimate"),
        "se": _first_number(diffs, "StdErr"),
        "df": _first_number(diffs, "df"),
        "ci": _first_interval(diffs),
        "p": _first_number(diffs, "p-value", "p.value"),
    }


def _names(value) -> list[str]:
    try:
        return [str(name) for name in value.names]
    except (AttributeError, TypeError):  # no names: R's NULL is not iterable
        return []


def _element(value, *names: str):
    """The first of ``names`` that ``value`` has (an R list or data frame element)."""
    present = _names(value)
    for name in names:
        if name in present:
            return value[present.index(name)]
    raise CrossCheckError(f"MRMCaov's summary has no {' or '.join(names)} (it has: {', '.join(present) or 'nothing'})")


def _first_number(frame, *names: str) -> float:
    return float(_element(frame, *names)[0])


def _first_interval(frame) -> list[float]:
    if "CI" not in _names(frame):
        return [_first_number(frame, "CI.Lower"), _first_number(frame, "CI.Upper")]
    matrix = _element(frame, "CI")
    n_rows, n_columns = tuple(matrix.dim)
    columns = [str(name) for name in matrix.colnames] if _has_colnames(matrix) else ["Lower", "Upper"]
    if n_columns != 2 or sorted(columns) != ["Lower", "Upper"]:
        raise CrossCheckError(f"MRMCaov's CI column has columns {columns}, not Lower and Upper")
    first_row = {name: float(matrix[j * n_rows]) for j, name in enumerate(columns)}  # column-major
    return [first_row["Lower"], first_row["Upper"]]


def _has_colnames(matrix) -> bool:
    try:
        return len(list(matrix.colnames)) > 0
    except TypeError:
        return False


def _data_frame(ro, study: ReaderStudy):
    """One row per read that exists: MRMCaov finds the design from which reads are there. Treatment names
    sort in the study's order (R's ``factor`` sorts them), so MRMCaov's first difference is the study's."""
    cells = [tuple(int(i) for i in cell) for cell in zip(*np.nonzero(study.read_mask), strict=True)]
    treatments = names_in_given_order(study.treatments)
    return ro.DataFrame(
        {
            "reader": ro.StrVector([study.readers[r] for _, r, _ in cells]),
            "treatment": ro.StrVector([treatments[t] for t, _, _ in cells]),
            "case": ro.StrVector([study.cases[c] for _, _, c in cells]),
            "truth": ro.IntVector([int(study.truth[c]) for _, _, c in cells]),
            "rating": ro.FloatVector([float(study.ratings[t, r, c]) for t, r, c in cells]),
        }
    )
