"""The supporting analyses of a run's results document, one section each.

Each section takes the :class:`SectionContext` (the parsed snapshot, the primary result
and the run's options) and returns a JSON-ready dict; :data:`SECTIONS` lists them in the
order of the document. The supporting analyses are Obuchowski-Rockette analyses, also when the
primary analysis is the U-statistic one; ratings are NaN where a read does not exist, and the
analyses that need every reader to read every case say so instead of counting a missing read.
"""

import csv
import io
from collections import Counter
from dataclasses import asdict

import numpy as np
from scipy import stats

from mrmc.stats import (
    FigureOfMerit,
    PilotEstimates,
    analyze,
    result_to_json,
    sample_size_table,
    sensitivity,
    specificity,
)
from mrmc.stats.agreement import fleiss_kappa, intraclass_correlation
from mrmc.stats.binormal import fit_binormal
from mrmc.stats.dbm import dbm_analysis
from mrmc.stats.proper_binormal import fit_proper_binormal
from mrmc.stats.r_crosscheck import mrmcaov_rrrc
from mrmc.stats.reading_time import arm_times, compare_times
from mrmc.stats.sequential import score_changes
from mrmc.stats.standalone import ai_versus_readers, empirical_roc, standalone_auc
from mrmc.stats.subgroups import subgroup_analyses
from studies.models import ReadingSession, Study
from studies.services import interactions
from studies.services.accountability import accountability_section
from studies.services.analysis_automation_bias import automation_bias_section
from studies.services.analysis_case_mix import case_mix_section
from studies.services.analysis_context import SectionContext
from studies.services.analysis_reference_standard import reference_standard_section
from studies.services.qualification import reader_summaries

POWER_READERS = (4, 6, 8, 10, 15, 20)
POWER_TARGET = 0.8
CURVE_MAX_POINTS = 400


def _require_fully_crossed(context: SectionContext, analysis: str) -> None:
    if not context.fully_crossed:
        raise ValueError(f"{analysis} needs every reader to read every case in every arm; "
                         f"these reads are {context.primary.design.label}")


def _ai_standalone(context: SectionContext) -> dict:
    if context.ai_scores is None:
        return {"available": False, "reason": "no AI output for every analysed case"}
    result = standalone_auc(context.ai_scores, context.data.truth, alpha=context.options["alpha"])
    return {"available": True, "model": context.ai_model, **asdict(result),
            "operating_point": _ai_operating_point(context)}


def _ai_operating_point(context: SectionContext) -> dict:
    """The AI's sensitivity and specificity at its stored operating point, with Wilson score intervals.

    A score at or above the operating point is a positive call, as a rating at or above the study's
    decision threshold is (Wilson 1927; Brown, Cai & DasGupta 2001 on why not the Wald interval).
    """
    threshold = context.ai_model.get("operating_point")
    if threshold is None:
        return {"available": False, "reason": context.ai_model.get("operating_point_note")
                or "the AI outputs give no operating point (the model's positive threshold)"}
    positive, truth = context.ai_scores >= threshold, context.data.truth
    alpha = context.options["alpha"]
    return {"available": True, "threshold": threshold, "rule": "score >= operating point", "ci_method": "Wilson score",
            "sensitivity": _proportion(positive[truth], alpha), "specificity": _proportion(~positive[~truth], alpha)}


def _proportion(successes: np.ndarray, alpha: float) -> dict:
    count, n = int(successes.sum()), int(successes.size)
    interval = stats.binomtest(count, n).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return {"estimate": count / n, "count": count, "n": n, "ci": [interval.low, interval.high]}


def _ai_versus_readers(context: SectionContext) -> dict:
    if context.ai_scores is None:
        return {"available": False, "reason": "no AI output for every analysed case"}
    if not context.fully_crossed:
        return {"available": False, "reason": f"the AI versus readers analysis needs every reader to read every "
                                              f"case; these reads are {context.primary.design.label}"}
    kind = context.options["fom"] if context.options["fom"] == "pauc" else "auc"
    fom = FigureOfMerit(kind, pauc_range=context.options["pauc_range"])
    by_arm = {
        arm: asdict(ai_versus_readers(
            context.data.ratings[t], context.ai_scores, context.data.truth, fom=fom, cov=context.options["cov"],
            alpha=context.options["alpha"], n_bootstrap=context.options["n_bootstrap"], seed=context.options["seed"],
        ))
        for t, arm in enumerate(context.data.treatments)
    }
    return {"available": True, "fom": fom.label, "generalization": next(iter(by_arm.values()))["method"],
            "by_arm": by_arm}


def _operating_points(context: SectionContext) -> dict:
    """Sensitivity and specificity OR analyses at the rating threshold and of the readers' own calls."""
    sources = {}
    if context.threshold is not None:
        sources[f"rating >= {context.threshold:g}"] = (context.data.ratings, context.threshold)
    if not np.isnan(context.snapshot.decisions).any():
        sources["reader's decision"] = (context.snapshot.decisions, 0.5)
    if not sources:
        return {"available": False, "reason": "no decision threshold and no binary decisions"}
    options = {**context.options, "pauc_range": None}
    return {
        "available": True,
        "sources": {
            label: {kind: _or_summary(analyze(ratings, context.data.truth, treatments=context.data.treatments,
                                              readers=context.data.readers, **{**options, "fom": kind,
                                                                                "threshold": threshold}))
                    for kind in ("sens", "spec")}
            for label, (ratings, threshold) in sources.items()
        },
    }


def _or_summary(result) -> dict:
    document = result_to_json(result)
    return {key: document[key] for key in ("fom_label", "fom_table", "treatment_means", "rrrc", "frrc")}


def _reader_table(context: SectionContext) -> dict:
    """Each reader's results per arm, and their qualification (date and the figures that qualified them)."""
    data, threshold = context.data, context.threshold
    qualification = reader_summaries(context.run.study)
    rows = []
    for r, reader in enumerate(data.readers):
        row = {"reader": reader, "fom": {}, "sensitivity": {}, "specificity": {}, "mean_seconds": {},
               "qualification": qualification.get(reader)}
        for t, arm in enumerate(data.treatments):
            row["fom"][arm] = float(context.primary.fom_table[t, r])
            read = ~np.isnan(data.ratings[t, r])
            if threshold is not None:
                row["sensitivity"][arm] = float(sensitivity(data.ratings[t, r, read], data.truth[read], threshold))
                row["specificity"][arm] = float(specificity(data.ratings[t, r, read], data.truth[read], threshold))
            times = context.snapshot.seconds[t, r]
            row["mean_seconds"][arm] = float(np.nanmean(times)) if np.isfinite(times).any() else None
        rows.append(row)
    return {"rows": rows, "threshold": threshold}


def _subgroups(context: SectionContext) -> dict:
    wanted = context.run.options["subgroup_variables"]
    variables = {name: values for name, values in context.snapshot.case_metadata.items()
                 if wanted is None or name in wanted}
    minimum = context.run.options["min_subgroup_cases"]
    results = subgroup_analyses(
        context.data.ratings, context.data.truth, variables, min_per_class=minimum,
        treatments=context.data.treatments, readers=context.data.readers, **context.options,
    )
    return {
        "min_cases_per_class": minimum,
        "rows": [
            {
                "variable": r.variable, "level": r.level, "n_normal": r.n_normal, "n_abnormal": r.n_abnormal,
                "too_small": r.too_small, "error": r.error,
                **({"treatment_means": result_to_json(r.result)["treatment_means"],
                    "differences": result_to_json(r.result)["rrrc"]["differences"]} if r.result else {}),
            }
            for r in results
        ],
    }


def _reference_and_aided_arms(context: SectionContext) -> tuple[int, list[int]]:
    """The first arm without AI is the reference; arms that show the AI are compared with it."""
    shows_ai = context.arms_show_ai
    reference = next((t for t, ai in enumerate(shows_ai) if not ai), 0)
    aided = [t for t, ai in enumerate(shows_ai) if ai and t != reference] or [
        t for t in range(len(shows_ai)) if t != reference
    ]
    return reference, aided


def _reading_time(context: SectionContext) -> dict:
    seconds, arms = context.snapshot.seconds, context.data.treatments
    if not np.isfinite(seconds).any():
        return {"available": False, "reason": "no read was timed"}
    reference, aided = _reference_and_aided_arms(context)
    return {
        "available": True,
        "by_arm": {arm: asdict(arm_times(seconds[t])) for t, arm in enumerate(arms)},
        "by_reader": {arm: {reader: _mean_or_none(seconds[t, r]) for r, reader in enumerate(context.data.readers)}
                      for t, arm in enumerate(arms)},
        "comparisons": [
            {"reference": arms[reference], "arm": arms[t],
             **asdict(compare_times(seconds[reference], seconds[t], alpha=context.options["alpha"]))}
            for t in aided
        ],
        "interactions": _interactions(context),
    }


def _interactions(context: SectionContext) -> dict:
    """What readers did per case (image viewing time, view changes, AI toggles) per arm, from the frozen reads."""
    rows = csv.DictReader(io.StringIO(context.run.snapshot_csv))
    if "image_dwell_ms" not in (rows.fieldnames or []):
        return {"available": False, "reason": "interaction records were not frozen with this run's reads"}
    by_arm = interactions.summary_by_arm(rows)
    if not any(summary["n_reads"] for summary in by_arm.values()):
        return {"available": False, "reason": "no read has an interaction record"}
    return {"available": True, "by_arm": {arm: by_arm.get(arm, {"n_reads": 0}) for arm in context.data.treatments}}


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def _agreement(context: SectionContext) -> dict:
    _require_fully_crossed(context, "agreement between readers (Fleiss' kappa, ICC)")
    data, decisions = context.data, context.snapshot.decisions
    by_arm = {}
    for t, arm in enumerate(data.treatments):
        if not np.isnan(decisions[t]).any():
            calls, source = decisions[t], "reader's decision"
        elif context.threshold is not None:
            calls, source = data.ratings[t] >= context.threshold, f"rating >= {context.threshold:g}"
        else:
            calls, source = None, None
        by_arm[arm] = {
            "kappa_source": source,
            "fleiss_kappa": asdict(fleiss_kappa(calls)) if calls is not None else None,
            "icc": asdict(intraclass_correlation(data.ratings[t], alpha=context.options["alpha"])),
        }
    return {"by_arm": by_arm}


def _sequential(context: SectionContext) -> dict:
    if context.run.study.design != Study.Design.SEQUENTIAL:
        return {"available": False, "reason": "not a sequential-design study"}
    reference, aided = _reference_and_aided_arms(context)
    t = aided[0]
    changes = score_changes(context.data.ratings[reference], context.data.ratings[t], context.data.truth,
                            threshold=context.threshold)
    return {"available": True, "unaided": context.data.treatments[reference], "aided": context.data.treatments[t],
            **asdict(changes)}


def _power(context: SectionContext) -> dict:
    components = context.or_result.analysis.var_components
    n_cases = len(context.data.cases)
    pilot = PilotEstimates.from_components(components, n_cases)
    effect = context.run.options["power_effect"]
    table = sample_size_table(pilot, effect_size=effect, readers=POWER_READERS, target_power=POWER_TARGET,
                              alpha=context.options["alpha"])
    return {
        "effect_size": effect,
        "target_power": POWER_TARGET,
        "alpha": context.options["alpha"],
        "pilot": asdict(pilot),
        "rows": [{"readers": readers, "cases": cases} for readers, cases in table],
    }


def _curves(context: SectionContext) -> dict:
    """Empirical ROC vertices (thinned for plotting), pooled and per reader, and operating points."""
    data, threshold = context.data, context.threshold
    decisions = context.snapshot.decisions
    curves = {"arms": {}, "ai": None, "threshold": threshold}
    for t, arm in enumerate(data.treatments):
        read = ~np.isnan(data.ratings[t])
        pooled = _thinned(*empirical_roc(data.ratings[t][read], np.broadcast_to(data.truth, read.shape)[read]))
        per_reader = {reader: _thinned(*empirical_roc(data.ratings[t, r, read[r]], data.truth[read[r]]))
                      for r, reader in enumerate(data.readers)}
        points = {}
        for r, reader in enumerate(data.readers):
            truth, given = data.truth[read[r]], decisions[t, r, read[r]]
            calls = given if not np.isnan(given).any() else (
                data.ratings[t, r, read[r]] >= threshold if threshold is not None else None)
            if calls is not None:
                calls = calls.astype(bool)
                points[reader] = {"fpr": float(calls[~truth].mean()), "tpr": float(calls[truth].mean())}
        curves["arms"][arm] = {"pooled": pooled, "readers": per_reader, "operating_points": points}
    if context.ai_scores is not None:
        curves["ai"] = _thinned(*empirical_roc(context.ai_scores, data.truth))
    return curves


def _thinned(fpr: np.ndarray, tpr: np.ndarray) -> dict:
    if fpr.size > CURVE_MAX_POINTS:
        keep = np.unique(np.linspace(0, fpr.size - 1, CURVE_MAX_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": np.round(fpr, 4).tolist(), "tpr": np.round(tpr, 4).tolist()}


def _r_crosscheck(context: SectionContext) -> dict:
    if not context.run.options["r_crosscheck"]:
        return {"requested": False}
    try:
        return {"requested": True, **mrmcaov_rrrc(context.data, cov=context.options["cov"])}
    except Exception as exc:  # R, rpy2 or MRMCaov failing in any way: said here, never fatal to the run
        return {"requested": True, "available": False, "reason": f"the cross-check failed: {type(exc).__name__}: {exc}"}


def _reader_intervals(context: SectionContext) -> dict:
    """Each reader's figure of merit per arm with its case-sampling SE (the run's covariance) and Wald interval."""
    primary = context.or_result
    n_readers = len(context.data.readers)
    variances = np.diag(primary.covariance).reshape(len(context.data.treatments), n_readers)
    z = stats.norm.ppf(1 - context.options["alpha"] / 2)
    by_arm = {}
    for t, arm in enumerate(context.data.treatments):
        by_arm[arm] = {}
        for r, reader in enumerate(context.data.readers):
            value, se = primary.fom_table[t, r], np.sqrt(variances[t, r]) if variances[t, r] >= 0 else np.nan
            by_arm[arm][reader] = {"estimate": value, "se": se, "ci": [value - z * se, value + z * se]}
    return {"method": context.options["cov"], "ci_kind": "Wald (estimate ± z·SE)", "by_arm": by_arm}


def _dbm(context: SectionContext) -> dict:
    """The DBM pseudovalue analysis printed beside OR (fully crossed studies analysed with OR only)."""
    if not context.fully_crossed or len(context.data.treatments) < 2 or len(context.data.readers) < 2:
        return {"available": False, "reason": "DBM needs two arms and two readers, each reading every case in each"}
    data = context.data
    result = dbm_analysis(context.or_result.fom, data.ratings, data.truth, alpha=context.options["alpha"])
    rrrc = context.or_result.analysis.rrrc
    # the same test as OR exactly when OR used the jackknife over all cases (Hillis et al. 2005)
    same = rrrc is not None and rrrc.test is not None and bool(
        np.isclose(result.f, rrrc.test.statistic, rtol=1e-8) and np.isclose(result.df2, rrrc.test.df2, rtol=1e-8))
    document = asdict(result)
    for difference in document["differences"]:
        difference["treatments"] = [data.treatments[t] for t in difference["treatments"]]
    return {"available": True, "identical_to_or": same, **document}


def _binormal(context: SectionContext) -> dict:
    """Maximum-likelihood binormal and proper binormal fits per reader and arm (:mod:`mrmc.stats.binormal`,
    :mod:`mrmc.stats.proper_binormal`)."""
    data = context.data
    fits, proper = {}, {}
    for t, arm in enumerate(data.treatments):
        fits[arm], proper[arm] = {}, {}
        for r, reader in enumerate(data.readers):
            present = ~np.isnan(data.ratings[t, r])
            ratings, truth = data.ratings[t, r][present], data.truth[present]
            fits[arm][reader] = _fit_or_error(fit_binormal, ratings, truth)
            proper[arm][reader] = _fit_or_error(fit_proper_binormal, ratings, truth)
    return {"method": "maximum likelihood (Dorfman & Alf 1969); more than 10 distinct ratings cut at deciles",
            "proper_method": "maximum likelihood of the proper binormal model (Metz & Pan 1999)",
            "by_arm": fits, "proper_by_arm": proper}


def _fit_or_error(fit, ratings: np.ndarray, truth: np.ndarray) -> dict:
    try:
        return asdict(fit(ratings, truth))
    except ValueError as exc:
        return {"error": str(exc)}


def _schedule(context: SectionContext) -> dict:
    """The study's planned design: washout, sessions per reader, and the order in which readers met the arms."""
    study = context.run.study
    arms_by_reader: dict[int, list[str]] = {}
    for session in ReadingSession.objects.filter(study=study).select_related("arm").order_by("reader_id", "number"):
        arms_by_reader.setdefault(session.reader_id, []).append(session.arm.name if session.arm else "mixed")
    sessions = [len(arms) for arms in arms_by_reader.values()]
    orders = Counter(" then ".join(arms) for arms in arms_by_reader.values())
    return {
        "design": study.design,
        "design_label": Study.Design(study.design).label,
        "washout_days": study.washout_days,
        "block_size": study.block_size,
        "readers_scheduled": len(arms_by_reader),
        "sessions_per_reader": [min(sessions), max(sessions)] if sessions else None,
        "arm_orders": [{"order": order, "readers": count} for order, count in orders.most_common()],
    }


SECTIONS = {
    "ai_standalone": _ai_standalone,
    "ai_versus_readers": _ai_versus_readers,
    "automation_bias": automation_bias_section,
    "operating_points": _operating_points,
    "reader_table": _reader_table,
    "subgroups": _subgroups,
    "case_mix": case_mix_section,
    "reading_time": _reading_time,
    "agreement": _agreement,
    "sequential": _sequential,
    "power": _power,
    "curves": _curves,
    "r_crosscheck": _r_crosscheck,
    "reader_intervals": _reader_intervals,
    "dbm": _dbm,
    "binormal": _binormal,
    "schedule": _schedule,
    "accountability": accountability_section,
    "reference_standard": reference_standard_section,
}
