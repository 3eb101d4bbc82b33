"""The results document of an analysis run, computed from its frozen reads snapshot.

The primary analysis is ``mrmc.stats.analyze`` on the snapshot exactly as the CLI would
run it on the same CSV (``python -m mrmc.stats analyze snapshot.csv --json``); the
supporting analyses each go into their own section, which records its error instead of
failing the run.
"""

import csv
import io
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass

import numpy as np

from mrmc.stats import (
    FigureOfMerit,
    PilotEstimates,
    ReaderStudy,
    StudyDataError,
    analyze,
    analyze_study,
    result_to_json,
    sample_size_table,
    sensitivity,
    specificity,
)
from mrmc.stats.agreement import fleiss_kappa, intraclass_correlation
from mrmc.stats.r_crosscheck import mrmcaov_rrrc
from mrmc.stats.reading_time import arm_times, compare_times
from mrmc.stats.sequential import score_changes
from mrmc.stats.standalone import ai_versus_readers, empirical_roc, standalone_auc
from mrmc.stats.subgroups import subgroup_analyses
from studies.errors import RuleViolation
from studies.models import AIOutput, AnalysisRun, Study
from studies.selectors import READS_CSV_COLUMNS

POWER_READERS = (4, 6, 8, 10, 15, 20)
POWER_TARGET = 0.8
CURVE_MAX_POINTS = 400


@dataclass(frozen=True)
class Snapshot:
    """The reads snapshot as arrays; ``decisions`` and ``seconds`` are NaN where not given."""

    study: ReaderStudy
    decisions: np.ndarray
    seconds: np.ndarray
    case_metadata: dict[str, list[str]]
    n_reads: int
    dropped_cases: int


def parse_snapshot(text: str, *, complete_cases_only: bool = False) -> Snapshot:
    """Arrays from a reads export; with ``complete_cases_only`` (interim runs) cases not yet read
    by every reader in every arm are left out instead of failing the fully crossed analysis."""
    rows = list(csv.DictReader(io.StringIO(text)))
    dropped = 0
    if complete_cases_only:
        rows, dropped = _complete_cases(rows)
    try:
        study = ReaderStudy.from_rows(rows)
    except StudyDataError as exc:
        raise RuleViolation(f"the reads cannot be analysed: {exc}") from exc
    index = {label: i for i, label in enumerate(study.treatments)}, {label: i for i, label in enumerate(study.readers)}
    cases = {label: i for i, label in enumerate(study.cases)}
    decisions = np.full(study.ratings.shape, np.nan)
    seconds = np.full(study.ratings.shape, np.nan)
    metadata_names = [name for name in rows[0] if name not in READS_CSV_COLUMNS]
    metadata = {name: [""] * len(study.cases) for name in metadata_names}
    for row in rows:
        cell = index[0][row["treatment"]], index[1][row["reader"]], cases[row["case"]]
        decisions[cell] = float(row["decision"]) if row["decision"] else np.nan
        seconds[cell] = float(row["duration_ms"]) / 1000 if row["duration_ms"] else np.nan
        for name in metadata_names:
            metadata[name][cell[2]] = row[name]
    return Snapshot(study, decisions, seconds, metadata, len(rows), dropped)


def _complete_cases(rows: list[dict]) -> tuple[list[dict], int]:
    per_case = Counter(row["case"] for row in rows)
    cells = len({row["reader"] for row in rows}) * len({row["treatment"] for row in rows})
    complete = {case for case, count in per_case.items() if count == cells}
    return [row for row in rows if row["case"] in complete], len(per_case) - len(complete)


@dataclass(frozen=True)
class _Context:
    run: AnalysisRun
    snapshot: Snapshot
    primary: object  # mrmc.stats.ORResult
    options: dict  # analysis options passed to mrmc.stats.analyze
    threshold: float | None
    ai_model: dict | None
    ai_scores: np.ndarray | None
    arms_show_ai: tuple[bool, ...]

    @property
    def data(self) -> ReaderStudy:
        return self.snapshot.study


def build_results(run: AnalysisRun, *, progress: Callable[[float, str], None]) -> dict:
    """The run's results: the primary OR analysis, the study summary and every supporting analysis."""
    progress(0.05, "reading the snapshot")
    snapshot = parse_snapshot(run.snapshot_csv, complete_cases_only=run.is_interim)
    threshold = run.options["threshold"] if run.options["threshold"] is not None else run.study.decision_threshold
    options = analysis_options(run.options, threshold)
    progress(0.1, "primary Obuchowski-Rockette analysis")
    try:
        primary = analyze_study(snapshot.study, **options)
    except (StudyDataError, ValueError) as exc:
        raise RuleViolation(f"the primary analysis failed: {exc}") from exc
    model, scores = _ai_scores(run.study, snapshot.study.cases)
    shows_ai = dict(run.study.arms.values_list("name", "shows_ai"))
    arms_show_ai = tuple(shows_ai.get(name, False) for name in snapshot.study.treatments)
    context = _Context(run, snapshot, primary, options, threshold, model, scores, arms_show_ai)
    results = {
        "primary": result_to_json(primary),
        "study": _study_summary(context),
        "options": {**run.options, "threshold": threshold},
    }
    for number, (name, section) in enumerate(SECTIONS.items()):
        progress(0.2 + 0.75 * number / len(SECTIONS), name.replace("_", " "))
        results[name] = _section(section, context)
    return plain(results)


def analysis_options(options: dict, threshold: float | None) -> dict:
    """The run's options as keyword arguments of ``mrmc.stats.analyze`` (and CLI flags)."""
    return {
        "fom": options["fom"],
        "threshold": threshold if options["fom"] in ("sens", "spec") else None,
        "pauc_range": tuple(options["pauc_range"]) if options["pauc_range"] else None,
        "cov": options["cov"],
        "n_bootstrap": options["n_bootstrap"],
        "seed": options["seed"],
        "convention": options["convention"],
        "alpha": options["alpha"],
    }


def _section(section, context: _Context) -> dict:
    try:
        return section(context)
    except (StudyDataError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return {"error": str(exc)}


def _ai_scores(study: Study, cases: tuple[str, ...]) -> tuple[dict | None, np.ndarray | None]:
    """The scores of the study's AI model (the one with most outputs) in case order, if every case has one."""
    outputs = AIOutput.objects.filter(study=study).select_related("case")
    models = Counter((o.model_name, o.model_version) for o in outputs)
    if not models:
        return None, None
    (name, version), _ = models.most_common(1)[0]
    by_case = {o.case.label: o for o in outputs if (o.model_name, o.model_version) == (name, version)}
    if any(case not in by_case for case in cases):
        return {"name": name, "version": version, "missing_cases": True}, None
    operating_point = next(iter(by_case.values())).operating_point
    return (
        {"name": name, "version": version, "operating_point": operating_point},
        np.array([by_case[case].score for case in cases]),
    )


def _study_summary(context: _Context) -> dict:
    study, data, snapshot = context.run.study, context.data, context.snapshot
    labels = dict(study.arms.values_list("name", "label"))
    by_subgroup = {
        name: {
            level: {
                "normal": sum(1 for v, t in zip(values, data.truth, strict=True) if v == level and not t),
                "abnormal": sum(1 for v, t in zip(values, data.truth, strict=True) if v == level and t),
            }
            for level in sorted(set(values) - {""})
        }
        for name, values in snapshot.case_metadata.items()
    }
    return {
        "title": study.title,
        "protocol_version": study.protocol_version,
        "design": study.design,
        "design_label": Study.Design(study.design).label,
        "rating_scale": study.rating_scale,
        "rating_bounds": list(study.rating_bounds),
        "binary_decision": study.binary_decision,
        "decision_threshold": study.decision_threshold,
        "arms": [
            {"name": name, "label": labels.get(name, name), "shows_ai": shows_ai}
            for name, shows_ai in zip(data.treatments, context.arms_show_ai, strict=True)
        ],
        "readers": list(data.readers),
        "n_cases": len(data.cases),
        "n_normal": data.n_normal,
        "n_abnormal": data.n_abnormal,
        "n_reads": snapshot.n_reads,
        "dropped_incomplete_cases": snapshot.dropped_cases,
        "cases_by_subgroup": by_subgroup,
        "ai_model": context.ai_model,
    }


def _ai_standalone(context: _Context) -> dict:
    if context.ai_scores is None:
        return {"available": False, "reason": "no AI output for every analysed case"}
    result = standalone_auc(context.ai_scores, context.data.truth, alpha=context.options["alpha"])
    return {"available": True, "model": context.ai_model, **asdict(result)}


def _ai_versus_readers(context: _Context) -> dict:
    if context.ai_scores is None:
        return {"available": False, "reason": "no AI output for every analysed case"}
    kind = context.options["fom"] if context.options["fom"] == "pauc" else "auc"
    fom = FigureOfMerit(kind, pauc_range=context.options["pauc_range"])
    by_arm = {
        arm: asdict(ai_versus_readers(
            context.data.ratings[t], context.ai_scores, context.data.truth, fom=fom, cov=context.options["cov"],
            alpha=context.options["alpha"], n_bootstrap=context.options["n_bootstrap"], seed=context.options["seed"],
        ))
        for t, arm in enumerate(context.data.treatments)
    }
    return {"available": True, "fom": fom.label, "generalization": "frrc", "by_arm": by_arm}


def _operating_points(context: _Context) -> dict:
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


def _reader_table(context: _Context) -> dict:
    data, threshold = context.data, context.threshold
    rows = []
    for r, reader in enumerate(data.readers):
        row = {"reader": reader, "fom": {}, "sensitivity": {}, "specificity": {}, "mean_seconds": {}}
        for t, arm in enumerate(data.treatments):
            row["fom"][arm] = float(context.primary.fom_table[t, r])
            if threshold is not None:
                row["sensitivity"][arm] = float(sensitivity(data.ratings[t, r], data.truth, threshold))
                row["specificity"][arm] = float(specificity(data.ratings[t, r], data.truth, threshold))
            times = context.snapshot.seconds[t, r]
            row["mean_seconds"][arm] = float(np.nanmean(times)) if np.isfinite(times).any() else None
        rows.append(row)
    return {"rows": rows, "threshold": threshold}


def _subgroups(context: _Context) -> dict:
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


def _reference_and_aided_arms(context: _Context) -> tuple[int, list[int]]:
    """The first arm without AI is the reference; arms that show the AI are compared with it."""
    shows_ai = context.arms_show_ai
    reference = next((t for t, ai in enumerate(shows_ai) if not ai), 0)
    aided = [t for t, ai in enumerate(shows_ai) if ai and t != reference] or [
        t for t in range(len(shows_ai)) if t != reference
    ]
    return reference, aided


def _reading_time(context: _Context) -> dict:
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
    }


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(np.nanmean(values)) if np.isfinite(values).any() else None


def _agreement(context: _Context) -> dict:
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


def _sequential(context: _Context) -> dict:
    if context.run.study.design != Study.Design.SEQUENTIAL:
        return {"available": False, "reason": "not a sequential-design study"}
    reference, aided = _reference_and_aided_arms(context)
    t = aided[0]
    changes = score_changes(context.data.ratings[reference], context.data.ratings[t], context.data.truth,
                            threshold=context.threshold)
    return {"available": True, "unaided": context.data.treatments[reference], "aided": context.data.treatments[t],
            **asdict(changes)}


def _power(context: _Context) -> dict:
    components = context.primary.analysis.var_components
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


def _curves(context: _Context) -> dict:
    """Empirical ROC vertices (thinned for plotting), pooled and per reader, and operating points."""
    data, threshold = context.data, context.threshold
    decisions = context.snapshot.decisions
    curves = {"arms": {}, "ai": None, "threshold": threshold}
    for t, arm in enumerate(data.treatments):
        pooled = _thinned(*empirical_roc(data.ratings[t].ravel(), np.tile(data.truth, len(data.readers))))
        per_reader = {reader: _thinned(*empirical_roc(data.ratings[t, r], data.truth))
                      for r, reader in enumerate(data.readers)}
        points = {}
        for r, reader in enumerate(data.readers):
            calls = decisions[t, r] if not np.isnan(decisions[t, r]).any() else (
                data.ratings[t, r] >= threshold if threshold is not None else None)
            if calls is not None:
                calls = calls.astype(bool)
                points[reader] = {"fpr": float(calls[~data.truth].mean()), "tpr": float(calls[data.truth].mean())}
        curves["arms"][arm] = {"pooled": pooled, "readers": per_reader, "operating_points": points}
    if context.ai_scores is not None:
        curves["ai"] = _thinned(*empirical_roc(context.ai_scores, data.truth))
    return curves


def _thinned(fpr: np.ndarray, tpr: np.ndarray) -> dict:
    if fpr.size > CURVE_MAX_POINTS:
        keep = np.unique(np.linspace(0, fpr.size - 1, CURVE_MAX_POINTS).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": np.round(fpr, 4).tolist(), "tpr": np.round(tpr, 4).tolist()}


def _r_crosscheck(context: _Context) -> dict:
    if not context.run.options["r_crosscheck"]:
        return {"requested": False}
    return {"requested": True, **mrmcaov_rrrc(context.data, cov=context.options["cov"])}


SECTIONS = {
    "ai_standalone": _ai_standalone,
    "ai_versus_readers": _ai_versus_readers,
    "operating_points": _operating_points,
    "reader_table": _reader_table,
    "subgroups": _subgroups,
    "reading_time": _reading_time,
    "agreement": _agreement,
    "sequential": _sequential,
    "power": _power,
    "curves": _curves,
    "r_crosscheck": _r_crosscheck,
}


def plain(value):
    """JSON-ready: dataclasses and tuples become dicts and lists, numpy scalars floats, NaN/inf None."""
    if is_dataclass(value):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
