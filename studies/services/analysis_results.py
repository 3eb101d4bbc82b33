"""The results document of an analysis run, computed from its frozen reads snapshot.

The primary analysis is ``mrmc.stats.analyze`` on the snapshot exactly as the CLI would
run it on the same CSV (``python -m mrmc.stats analyze snapshot.csv --json``); the
supporting analyses (:mod:`studies.services.analysis_sections`) each go into their own
section, which records its error instead of failing the run; ``endpoints`` holds each
pre-specified endpoint's decision (:mod:`studies.services.endpoint_decisions`).
"""

import math
from collections.abc import Callable
from dataclasses import asdict, is_dataclass

import numpy as np

from mrmc.stats import StudyDataError, analyze_study, result_to_json
from studies.errors import RuleViolation
from studies.models import AnalysisRun, Study
from studies.selectors import study_cases
from studies.services.analysis_context import SectionContext
from studies.services.analysis_design import design_section
from studies.services.analysis_sections import SECTIONS
from studies.services.analysis_snapshot import parse_snapshot
from studies.services.endpoint_decisions import decide_endpoints, difference_convention
from studies.services.froc_marks import froc_section


def build_results(run: AnalysisRun, *, progress: Callable[[float, str], None], bootstrap=None) -> dict:
    """The run's results: the primary analysis, the design, the study summary and every supporting analysis.

    ``bootstrap``: the primary analysis's bootstrap chunks computed by the workers
    (:class:`studies.services.analysis_bootstrap.BootstrapChunks`); its seed is the run's.
    """
    progress(0.05, "reading the snapshot")
    snapshot = parse_snapshot(run.snapshot_csv)
    threshold = run_threshold(run)
    options = analysis_options(run.options, threshold)
    if bootstrap is not None:
        options["seed"] = bootstrap.seed
    method = run.options["method"]
    progress(0.1, "primary U-statistic analysis" if method == "ustat" else "primary Obuchowski-Rockette analysis")
    try:
        primary = analyze_study(snapshot.study, **options, method=method,
                                bootstrap_chunks=bootstrap.chunks if bootstrap else None)
    except (StudyDataError, ValueError) as exc:
        raise RuleViolation(f"the primary analysis failed: {exc}") from exc
    model, scores = _ai_scores(run.study, snapshot.study.cases)
    shows_ai = dict(run.study.arms.values_list("name", "shows_ai"))
    arms_show_ai = tuple(shows_ai.get(name, False) for name in snapshot.study.treatments)
    context = SectionContext(run, snapshot, primary, options, threshold, model, scores, arms_show_ai)
    results = {
        "primary": result_to_json(primary),
        "design": design_section(run.study, primary, snapshot.reads()),
        "study": _study_summary(context),
        "options": {**run.options, "threshold": threshold, "seed": options["seed"],
                    "convention": getattr(primary, "convention", None)},
    }
    for number, (name, section) in enumerate(SECTIONS.items()):
        progress(0.2 + 0.75 * number / len(SECTIONS), name.replace("_", " "))
        results[name] = _section(section, context)
    results["arm_order"] = difference_convention(results["study"]["arms"])
    results["froc"] = froc_section(run, snapshot, convention=results["options"]["convention"] or "iowa",
                                   alpha=options["alpha"])
    results = plain(results)
    results["endpoints"] = plain(decide_endpoints(endpoints=run.study.endpoints, results=results,
                                                 interim=run.is_interim))
    return results


def run_threshold(run: AnalysisRun) -> float | None:
    """The sensitivity/specificity threshold of a run: its own, else the study's."""
    return run.options["threshold"] if run.options["threshold"] is not None else run.study.decision_threshold


def analysis_options(options: dict, threshold: float | None) -> dict:
    """The run's options as keyword arguments of an OR ``mrmc.stats.analyze`` (and CLI flags); the
    primary analysis adds the run's ``method``, the supporting analyses are OR analyses."""
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


def _section(section, context: SectionContext) -> dict:
    try:
        return section(context)
    except (StudyDataError, ValueError, ZeroDivisionError, FloatingPointError) as exc:
        return {"error": str(exc)}


def _ai_scores(study: Study, cases: tuple[str, ...]) -> tuple[dict | None, np.ndarray | None]:
    """The scores of the AI output set shown to readers, in case order, if every case has one; and its provenance."""
    output_set = study.ai_output_sets.filter(shown=True).select_related("model").first()
    if output_set is None:
        return None, None
    by_case = {o.case.label: o for o in output_set.outputs.select_related("case")}
    model = {"name": output_set.model_name, "version": output_set.model_version, "source": output_set.source,
             "outputs_sha256": output_set.outputs_sha256, **_provenance(output_set)}
    if any(case not in by_case for case in cases):
        return {**model, "missing_cases": True}, None
    operating_points = {by_case[case].operating_point for case in cases}  # of the analysed cases (no training case)
    model["operating_point"] = next(iter(operating_points))
    if len(operating_points) > 1:  # one threshold per model: several cannot say which calls the model made
        model.update(operating_point=None, operating_point_note="the AI outputs give different operating points")
    return model, np.array([by_case[case].score for case in cases])


def _provenance(output_set) -> dict:
    """Where the outputs came from: the model file and card hashes and the runtimes and devices, or the file."""
    if output_set.model is None:
        return {"source_name": output_set.source_name, "source_sha256": output_set.source_checksum}
    ran = sorted(set(output_set.outputs.values_list("runtime", "device")))
    return {"model_sha256": output_set.model.sha256, "card_sha256": output_set.model.card_sha256,
            "runtimes": [{"runtime": runtime, "device": device} for runtime, device in ran]}


def _study_summary(context: SectionContext) -> dict:
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
        "cases_without_truth": study_cases(context.run.study).filter(truth__isnull=True).count(),
        "cases_by_subgroup": by_subgroup,
        "ai_model": context.ai_model,
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
