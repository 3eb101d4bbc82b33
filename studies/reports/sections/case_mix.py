"""The analysed cases against the intended-use population (counts, proportions with Wilson intervals,
targets, under-representation flags) and subgroup performance as a forest plot."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number
from studies.reports.forest_plot import has_forest_plot

NOT_RECORDED_LABEL = "not recorded"
SOURCES = {"acquisition": "from the images", "metadata": "from the case metadata"}


def build(run: AnalysisRun, results: dict) -> Section | None:
    case_mix = results.get("case_mix") or {}
    forest = has_forest_plot(results)
    if not case_mix.get("available") and not forest:
        return None
    paragraphs, tables = [], []
    if case_mix.get("available"):
        rule, confidence = case_mix["rule"], f"{100 * (1 - case_mix['rule']['alpha']):g}%"
        paragraphs.append(
            f"The {case_mix['n_cases']} analysed cases ({case_mix['n_non_diseased']} non-diseased, "
            f"{case_mix['n_diseased']} diseased) against the intended-use population the protocol declares. "
            f"Proportions are of all analysed cases, with {confidence} Wilson score intervals (Wilson 1927). "
            f"A group is flagged under-represented when its proportion is below {rule['min_ratio']:g} × its target, "
            f"or when its whole interval lies below the target.")
        tables = [_variable_table(variable, confidence, rule) for variable in case_mix["variables"]]
    else:
        paragraphs.append(case_mix.get("reason", "The results hold no case-mix table."))
    figures = [("subgroup_forest", "Difference between arms per subgroup level, with its confidence interval "
                                   "(the whole study's first); levels too small to analyse are not plotted "
                                   "(see Subgroup analyses)")] if forest else []
    return Section("Case mix and subgroup performance", paragraphs, tables, figures)


def _variable_table(variable: dict, confidence: str, rule: dict) -> Table:
    rows = [[group["group"] or NOT_RECORDED_LABEL, str(group["count"]), str(group["n_non_diseased"]),
             str(group["n_diseased"]), number(group["proportion"]), interval(group["ci"]), number(group["target"]),
             _flag(group, rule)]
            for group in variable["groups"]]
    return Table(f"{variable['name']} ({SOURCES[variable['source']]})",
                 ["Group", "Cases", "Non-dis.", "Dis.", "Proportion", f"{confidence} CI", "Target", "Flag"], rows)


def _flag(group: dict, rule: dict) -> str:
    if group["target"] is None:
        return "no target"
    if not group["under_represented"]:
        return "ok"
    reasons = {"below_ratio": f"below {rule['min_ratio']:g} × target", "ci_below_target": "CI below target"}
    return "under-represented: " + ", ".join(reasons[reason] for reason in group["reasons"])
