"""The report of one look at a locked evaluation: what was frozen (with its hashes), the model update, each
acceptance criterion's verdict with its estimate, CI, threshold and reason, the subgroups, and every look at the
test set so far. Rendered as HTML and PDF like the analysis report, from what the look stored."""

import base64

from django.template.loader import render_to_string
from matplotlib.figure import Figure

from mrmc.stats.model_update import CRITERIA
from studies.models import ModelUpdateEvaluation

from .elements import Section, Table, interval, number
from .figures import _png
from .pdf import render_pdf_document

CRITERION_LABELS = {
    "auc_noninferiority": "AUC non-inferiority (paired DeLong)",
    "sensitivity_floor": "Sensitivity floor",
    "specificity_floor": "Specificity floor",
    "subgroup_max_drop": "No subgroup worse by more than the limit",
    "calibration": "Calibration",
}
PASS_COLOUR, FAIL_COLOUR = "#2ca02c", "#d62728"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "not evaluated"}[passed]


def look_title(look: ModelUpdateEvaluation) -> str:
    return (f"Model update {look.model_name} {look.model_version}: look {look.look} at "
            f"{look.evaluation.name} v{look.evaluation.version} — {verdict(look.passed)}")


def look_sections(look: ModelUpdateEvaluation) -> list[Section]:
    return [_verdict_section(look), _criteria_section(look), *_subgroup_sections(look),
            _test_set_section(look.evaluation), _looks_section(look)]


def _verdict_section(look: ModelUpdateEvaluation) -> Section:
    result = look.result
    failed = [CRITERION_LABELS.get(c["name"], c["name"]) for c in result["criteria"] if not c["passed"]]
    summary = "Accepted: every acceptance criterion is met."
    if not look.passed:
        summary = f"Not accepted: {len(failed)} of {len(result['criteria'])} criteria failed: {'; '.join(failed)}."
    origin = "computed by the platform" if look.source == look.Source.PRECOMPUTED else "imported"
    paragraphs = [
        summary,
        f"Model {look.model_name} {look.model_version}, scores {origin}"
        + (f" (model file SHA-256 {look.model_sha256})" if look.model_sha256 else "")
        + f", operating point {look.operating_point:g}; compared with the cleared model "
        f"{look.evaluation.reference['model_name']} {look.evaluation.reference['model_version']} on the same "
        f"{result['n_normal']} non-diseased and {result['n_abnormal']} diseased cases (standalone, paired).",
        f"Scores SHA-256 {look.scores_sha256}. Evaluated {look.created_at:%Y-%m-%d %H:%M} UTC by "
        f"{look.created_by.username if look.created_by else 'the platform'}.",
        f"This is look {look.look} at this test set; it has been used {look.evaluation.looks.count()} time(s) in "
        f"all. Each look at the same cases weakens their independence from the model's development.",
    ]
    return Section("Verdict", paragraphs)


def _criteria_section(look: ModelUpdateEvaluation) -> Section:
    rows = [[CRITERION_LABELS.get(c["name"], c["name"]), verdict(c["passed"]), number(c["estimate"], 4),
             interval(c["ci"], 4), c["limit"], c["reason"]] for c in in_order(look.result["criteria"])]
    table = Table("Each criterion as fixed in the plan: estimate (new minus cleared for comparisons), its CI, the "
                  "threshold and why it passed or failed", ["Criterion", "Result", "Estimate", "CI", "Threshold",
                                                            "Reason"], rows)
    return Section("Acceptance criteria", tables=[table])


def in_order(criteria: list[dict]) -> list[dict]:
    """In the order the statistics define them, whatever order the stored JSON keeps."""
    return sorted(criteria, key=lambda c: CRITERIA.index(c["name"]) if c["name"] in CRITERIA else len(CRITERIA))


def _subgroup_sections(look: ModelUpdateEvaluation) -> list[Section]:
    sections = []
    spec = look.evaluation.criteria["criteria"].get("subgroup_max_drop")
    for criterion in look.result["criteria"]:
        if criterion["name"] != "subgroup_max_drop":
            continue
        rows = [[group["level"], f"{group['n_normal']}/{group['n_abnormal']}"]
                + ([number(group["reference"], 4), number(group["candidate"], 4), number(group["difference"], 4),
                    interval(group["ci"], 4), verdict(_group_passed(group, spec))]
                   if group["compared"] else ["–", "–", "–", "–", "too few cases to compare"])
                for group in criterion["subgroups"]]
        metric = metric_label(spec)
        table = Table(f"{metric} per {spec['variable']}: cleared, new, and their difference (new minus cleared) with "
                      f"its {100 * (1 - spec['alpha']):g}% CI; the limit is a drop of {spec['max']:g} "
                      f"({spec['judge'].replace('_', ' ')})",
                      [spec["variable"], "Non-diseased/diseased", "Cleared", "New", "Difference", "CI", "Result"],
                      rows)
        sections.append(Section(f"Subgroups by {spec['variable']}", [criterion["reason"]], [table],
                                [("subgroups", f"{metric} difference per {spec['variable']} (new minus cleared) with "
                                               f"its CI; the dashed line is the largest drop allowed")]))
    return sections


def metric_label(spec: dict) -> str:
    return "AUC" if spec["metric"] == "auc" else "Sensitivity"


def _group_passed(group: dict, spec: dict) -> bool:
    judged = group["ci"][0] if spec["judge"] == "lower_bound" else group["difference"]
    return judged is not None and judged >= -spec["max"]


def _test_set_section(evaluation) -> Section:
    reference = evaluation.reference
    point = evaluation.criteria["options"]["reference_operating_point"]
    paragraphs = [
        f"{evaluation.name}, version {evaluation.version} of study {evaluation.study_id} "
        f"(\u201c{evaluation.study.title}\u201d), locked {evaluation.created_at:%Y-%m-%d %H:%M} UTC by "
        f"{evaluation.created_by.username if evaluation.created_by else 'the platform'}: "
        f"{len(evaluation.cases)} cases (training cases and cases excluded from the analysis left out).",
        f"Cleared model {reference['model_name']} {reference['model_version']} (the study's shown AI output set, "
        f"outputs SHA-256 {reference['outputs_sha256'] or '–'}), operating point "
        f"{'–' if point is None else f'{point:g}'}.",
    ]
    hashes = Table("SHA-256 of the canonical JSON of each frozen part",
                   ["Part", "SHA-256"], [["Cases (labels and subgroup values)", evaluation.cases_sha256],
                                         ["Truth", evaluation.truth_sha256],
                                         ["Plan (criteria and analysis options)", evaluation.plan_sha256]])
    return Section("The locked test set", paragraphs, [hashes])


def _looks_section(look: ModelUpdateEvaluation) -> Section:
    rows = [[str(each.look), f"{each.model_name} {each.model_version}", each.source,
             f"{each.created_at:%Y-%m-%d %H:%M}", each.created_by.username if each.created_by else "–",
             verdict(each.passed)]
            for each in look.evaluation.looks.select_related("created_by").order_by("look")]
    return Section("Every use of the test set",
                   [f"The test set has been used {len(rows)} time(s); this report is of look {look.look}."],
                   [Table("Looks in order", ["Look", "Model", "Scores", "When (UTC)", "By", "Verdict"], rows)])


def look_figures(look: ModelUpdateEvaluation) -> dict[str, bytes]:
    spec = look.evaluation.criteria["criteria"].get("subgroup_max_drop")
    criterion = next((c for c in look.result["criteria"] if c["name"] == "subgroup_max_drop"), None)
    compared = [group for group in (criterion or {}).get("subgroups", []) if group["compared"]]
    return {"subgroups": _png(subgroup_figure(compared, spec))} if compared else {}


def subgroup_figure(groups: list[dict], spec: dict) -> Figure:
    """Each level's difference (point) and CI (line), green where within the limit and red where not."""
    figure = Figure(figsize=(7.2, 1.0 + 0.4 * len(groups)), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    positions = range(len(groups) - 1, -1, -1)
    for position, group in zip(positions, groups, strict=True):
        colour = PASS_COLOUR if _group_passed(group, spec) else FAIL_COLOUR
        axes.plot(group["ci"], [position, position], color=colour, linewidth=1.4)
        axes.plot([group["difference"]], [position], marker="s", color=colour, markersize=5)
    axes.axvline(0.0, color="#777777", linewidth=0.8, linestyle=":")
    axes.axvline(-spec["max"], color=FAIL_COLOUR, linewidth=1.0, linestyle="--")
    axes.set(yticks=list(positions), ylim=(-0.7, len(groups) - 0.3),
             yticklabels=[f"{group['level']} ({group['n_normal']}/{group['n_abnormal']})" for group in groups],
             xlabel=f"{metric_label(spec)} difference, new minus cleared", title=f"Subgroups by {spec['variable']}")
    return figure


def render_look_html(look: ModelUpdateEvaluation) -> str:
    """A self-contained HTML report (figures embedded as PNG data URIs)."""
    figures = {name: base64.b64encode(png).decode() for name, png in look_figures(look).items()}
    sections = [{"section": section, "figures": [(figures[name], caption) for name, caption in section.figures
                                                 if name in figures]}
                for section in look_sections(look)]
    return render_to_string("analysis/report.html", {"title": look_title(look), "sections": sections})


def render_look_pdf(look: ModelUpdateEvaluation) -> bytes:
    return render_pdf_document(look_title(look), look_sections(look), look_figures(look))
