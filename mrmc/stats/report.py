"""Render an :class:`~mrmc.stats.analysis.ORResult` as a JSON-ready dict or as text."""

from __future__ import annotations

import math

from .analysis import ORResult
from .designs import StudyDesign
from .or_results import Difference, Generalization, GlobalTest, TreatmentInterval
from .ustatistics import UStatEstimate, UStatResult

CONVENTION_NOTES = {
    "iowa": "OR-DBM MRMC (Iowa) convention: FRRC error term uses max(Cov2 - Cov3, 0); CIs not clipped",
    "mrmcaov": (
        "MRMCaov convention: FRRC error term uses Cov2 - Cov3 untruncated; single-treatment CIs clipped to [0, 1]"
    ),
}
METHOD_NOTES = {
    "or": "Obuchowski-Rockette over the reads that exist (reader averages unweighted, Hillis ddf)",
    "ustat": (
        "U-statistics as iMRMC 4.0 (Gallas 2009): reader averages weighted by case pairs, unbiased "
        "one-shot variance pooling kernel products over reader pairs, t tests with BDG df truncated to an "
        "integer (normal from df 50)"
    ),
}
_GENERALIZATIONS = (
    ("rrrc", "Random readers, random cases (F test, Hillis ddf)"),
    ("frrc", "Fixed readers, random cases (chi-square / z)"),
    ("rrfc", "Random readers, fixed cases (F test)"),
)


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _test_json(test: GlobalTest | None) -> dict | None:
    if test is None:
        return None
    return {
        "statistic": _number(test.statistic),
        "df1": test.df1,
        "df2": _number(test.df2),
        "p": _number(test.p),
        "denominator": _number(test.denominator),
    }


def _difference_json(difference: Difference) -> dict:
    entry = {
        "treatments": list(difference.treatments),
        "estimate": _number(difference.estimate),
        "se": _number(difference.se),
        "ci": [_number(bound) for bound in difference.ci],
        "df": _number(difference.df),
        "statistic": _number(difference.statistic),
        "p": _number(difference.p),
    }
    if difference.reader is not None:
        entry["reader"] = difference.reader
    return entry


def _interval_json(interval: TreatmentInterval) -> dict:
    return {
        "estimate": _number(interval.estimate),
        "se": _number(interval.se),
        "ci": [_number(bound) for bound in interval.ci],
        "df": _number(interval.df),
    }


def _generalization_json(result: Generalization | None) -> dict | None:
    if result is None:
        return None
    entry = {
        "test": _test_json(result.test),
        "differences": [_difference_json(d) for d in result.differences],
        "treatment_ci": {i.treatment: _interval_json(i) for i in result.treatment_ci},
    }
    if result.name == "frrc":
        entry["reader_differences"] = [_difference_json(d) for d in result.reader_differences]
    return entry


def design_json(design: StudyDesign | None) -> dict | None:
    """The design found in the reads, its reader blocks and what is missing."""
    if design is None:
        return None
    return {
        "kind": design.kind,
        "label": design.label,
        "n_reads": design.n_reads,
        "n_missing": design.n_missing,
        "blocks": [
            {"readers": list(block.readers), "n_normal": block.n_normal, "n_abnormal": block.n_abnormal}
            for block in design.blocks
        ],
        "reads_by_cell": [
            {"treatment": c.treatment, "reader": c.reader, "n_reads": c.n_reads, "n_missing": c.n_missing}
            for c in design.cells
        ],
        "missing": [{"treatment": t, "reader": r, "case": c} for t, r, c in design.missing],
    }


def _study_json(result: ORResult | UStatResult) -> dict:
    """The keys both methods' documents share: method, design, arms, readers, cases and the reader table."""
    return {
        "method": result.method,
        "method_note": METHOD_NOTES[result.method],
        "design": design_json(result.design),
        "alpha": result.alpha,
        "treatments": list(result.treatments),
        "readers": list(result.readers),
        "n_normal": result.n_normal,
        "n_abnormal": result.n_abnormal,
        "fom_table": {
            treatment: {reader: _number(v) for reader, v in zip(result.readers, row, strict=True)}
            for treatment, row in zip(result.treatments, result.fom_table, strict=True)
        },
    }


def result_to_json(result: ORResult | UStatResult) -> dict:
    """JSON-serializable dict with the documented key names (non-finite numbers become None)."""
    if isinstance(result, UStatResult):
        return _ustat_json(result)
    analysis = result.analysis
    components = analysis.var_components
    ms = analysis.mean_squares
    n_cases = result.n_normal + result.n_abnormal
    document = {
        "fom": result.fom.kind,
        "fom_label": result.fom.label,
        "cov": result.cov,
        "convention": result.convention,
        "convention_note": CONVENTION_NOTES[result.convention],
        **_study_json(result),
        "treatment_means": {t: _number(v) for t, v in zip(result.treatments, result.treatment_means, strict=True)},
        "var_components": {
            "var_R": _number(components.var_R),
            "var_TR": _number(components.var_TR),
            "cov1": _number(components.cov1),
            "cov2": _number(components.cov2),
            "cov3": _number(components.cov3),
            "var_error": _number(components.var_error),
        },
        "correlations": {k: _number(v) for k, v in components.correlations().items()},
        "dbm_var_components": {k: _number(v) for k, v in components.dbm_equivalent(n_cases).items()},
        "mean_squares": {
            "ms_t": _number(ms.ms_t),
            "ms_r": _number(ms.ms_r),
            "ms_tr": _number(ms.ms_tr),
            "ms_r_by_treatment": (
                None
                if ms.ms_r_by_treatment is None
                else dict(zip(result.treatments, map(_number, ms.ms_r_by_treatment), strict=True))
            ),
            "df_t": ms.df_t,
            "df_r": ms.df_r,
            "df_tr": ms.df_tr,
        },
        "treatment_components": {
            part.treatment: {
                "ms_r": _number(part.ms_r),
                "var_error": _number(part.var_error),
                "cov2": _number(part.cov2),
            }
            for part in analysis.treatment_components
        },
        "reader_components": {
            part.reader: {"var_error": _number(part.var_error), "cov1": _number(part.cov1)}
            for part in analysis.reader_components
        },
        "rrrc": _generalization_json(analysis.rrrc),
        "frrc": _generalization_json(analysis.frrc),
        "rrfc": _generalization_json(analysis.rrfc),
    }
    if result.cov == "bootstrap":
        document["n_bootstrap"] = result.n_bootstrap
        document["seed"] = result.seed
    return document


def _estimate_json(estimate: UStatEstimate) -> dict:
    return {
        "label": estimate.label,
        "estimate": _number(estimate.estimate),
        "variance": _number(estimate.variance),
        "se": _number(estimate.se),
        "statistic": _number(estimate.statistic),
        "df_bdg": _number(estimate.df),
        "df_used": estimate.df_used,
        "p": _number(estimate.p),
        "ci": [_number(bound) for bound in estimate.ci],
        "p_normal": _number(estimate.p_normal),
        "ci_normal": [_number(bound) for bound in estimate.ci_normal],
    }


def _ustat_json(result: UStatResult) -> dict:
    return {
        "fom": "auc",
        **_study_json(result),
        "reader_weights": {
            treatment: {reader: _number(v) for reader, v in zip(result.readers, row, strict=True)}
            for treatment, row in zip(result.treatments, result.reader_weights, strict=True)
        },
        "treatment_means": {t: _number(v) for t, v in zip(result.treatments, result.treatment_means, strict=True)},
        "covariance": [[_number(v) for v in row] for row in result.covariance],
        "treatment_tests": [_estimate_json(e) for e in result.treatment_estimates],
        "differences": [_estimate_json(e) for e in result.differences],
    }


def _fmt(value: float | None, digits: int = 8) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _p(value: float) -> str:
    return f"{value:.4f}"


def format_report(result: ORResult | UStatResult) -> str:
    """Plain-text report in the order of the OR-DBM MRMC printout."""
    if isinstance(result, UStatResult):
        return _ustat_report(result)
    analysis = result.analysis
    confidence = f"{100 * (1 - result.alpha):g}%"
    lines = [
        "MRMC analysis (Obuchowski-Rockette)",
        f"{len(result.treatments)} treatments, {len(result.readers)} readers, "
        f"{result.n_normal + result.n_abnormal} cases ({result.n_normal} normal, {result.n_abnormal} abnormal)",
        f"Figure of merit: {result.fom.label}",
        f"Covariance: {result.cov}"
        + (f" ({result.n_bootstrap} resamples, seed {result.seed})" if result.cov == "bootstrap" else ""),
        CONVENTION_NOTES[result.convention],
        *design_lines(result.design),
        "",
        "Figure of merit by reader (rows) and treatment (columns)",
        "reader      " + "".join(f"{t:>14}" for t in result.treatments),
    ]
    for j, reader in enumerate(result.readers):
        lines.append(f"{reader:<12}" + "".join(f"{v:>14.8f}" for v in result.fom_table[:, j]))
    lines.append("mean        " + "".join(f"{v:>14.8f}" for v in result.treatment_means))
    components = analysis.var_components
    lines += ["", "OR variance components"]
    for name in ("var_R", "var_TR", "cov1", "cov2", "cov3", "var_error"):
        lines.append(f"  {name:<10}{_fmt(getattr(components, name)):>14}")
    for key, title in _GENERALIZATIONS:
        generalization = getattr(analysis, key)
        if generalization is not None:
            lines += ["", title] + _generalization_lines(generalization, confidence)
    return "\n".join(lines) + "\n"


def design_lines(design: StudyDesign | None) -> list[str]:
    """The design, its reader blocks (split-plot groups) and the reads missing, for the text report."""
    if design is None:
        return []
    lines = [f"Design: {design.label} ({design.n_reads} reads, {design.n_missing} missing)"]
    if len(design.blocks) > 1:
        lines += [
            f"  reader group {number}: readers {', '.join(block.readers)}; "
            f"{block.n_normal} normal + {block.n_abnormal} abnormal cases"
            for number, block in enumerate(design.blocks, start=1)
        ]
    lines += [
        f"  reader {c.reader}, treatment {c.treatment}: {c.n_missing} missing of {c.n_reads + c.n_missing}"
        for c in design.cells
        if c.n_missing
    ]
    if design.missing:
        listed = "; ".join(f"reader {r} / case {c} / treatment {t}" for t, r, c in design.missing)
        more = design.n_missing - len(design.missing)
        lines.append(f"  missing: {listed}" + (f" and {more} more" if more else ""))
    return lines


def _generalization_lines(result: Generalization, confidence: str) -> list[str]:
    lines = []
    test = result.test
    if test is not None:
        if test.df2 is None:
            lines.append(f"  Global test: X2({test.df1}) = {test.statistic:.4f}, p = {_p(test.p)}")
        else:
            lines.append(f"  Global test: F({test.df1}, {_fmt(test.df2, 2)}) = {test.statistic:.4f}, p = {_p(test.p)}")
    for d in result.differences + result.reader_differences:
        who = f"reader {d.reader}: " if d.reader is not None else ""
        df = "z" if d.df is None else f"t df {d.df:.2f}"
        lines.append(
            f"  {who}{d.treatments[0]} - {d.treatments[1]}: {d.estimate:+.5f} (SE {d.se:.5f}, {df}, "
            f"p {_p(d.p)}), {confidence} CI [{d.ci[0]:.5f}, {d.ci[1]:.5f}]"
        )
    for i in result.treatment_ci:
        df = "" if i.df is None else f", df {i.df:.2f}"
        lines.append(
            f"  treatment {i.treatment}: {i.estimate:.5f} (SE {i.se:.5f}{df}), "
            f"{confidence} CI [{i.ci[0]:.5f}, {i.ci[1]:.5f}]"
        )
    return lines


def _ustat_report(result: UStatResult) -> str:
    confidence = f"{100 * (1 - result.alpha):g}%"
    lines = [
        "MRMC analysis (U-statistics)",
        f"{len(result.treatments)} treatments, {len(result.readers)} readers, "
        f"{result.n_normal + result.n_abnormal} cases ({result.n_normal} normal, {result.n_abnormal} abnormal)",
        "Figure of merit: auc",
        METHOD_NOTES[result.method],
        *design_lines(result.design),
        "",
        "AUC by reader (rows) and treatment (columns)",
        "reader      " + "".join(f"{t:>14}" for t in result.treatments),
    ]
    for j, reader in enumerate(result.readers):
        lines.append(f"{reader:<12}" + "".join(f"{v:>14.8f}" for v in result.fom_table[:, j]))
    lines += ["pair-weighted" + "".join(f"{v:>13.8f}" for v in result.treatment_means), ""]
    for estimate in result.treatment_estimates + result.differences:
        df = "z" if estimate.df_used is None else f"t df {estimate.df_used} (BDG {estimate.df:.2f})"
        lines.append(
            f"  {estimate.label}: {estimate.estimate:.5f} (SE {_fmt(estimate.se, 5)}, {df}, p {_fmt(estimate.p, 4)}), "
            f"{confidence} CI [{_fmt(estimate.ci[0], 5)}, {_fmt(estimate.ci[1], 5)}]"
        )
    return "\n".join(lines) + "\n"
