"""Fitted binormal ROC curves per reader and arm beside the empirical ones."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label, number


def build(run: AnalysisRun, results: dict) -> Section | None:
    binormal = results.get("binormal")
    if not binormal or "by_arm" not in binormal:
        return None
    empirical = results["primary"]["fom_table"]
    rows = []
    for arm, readers in binormal["by_arm"].items():
        for reader, fit in readers.items():
            area = (empirical.get(arm) or {}).get(reader) if results["primary"]["fom"] == "auc" else None
            if "error" in fit:
                rows.append([reader, arm_label(results, arm), "–", "–", "–", number(area, 4), fit["error"]])
                continue
            note = ("deciles" if fit["binned"] else f"{fit['n_categories']} ratings") + (
                "" if fit["converged"] else "; did not converge")
            rows.append([reader, arm_label(results, arm), number(fit["a"], 3), number(fit["b"], 3),
                         number(fit["auc"], 4), number(area, 4), note])
    return Section(
        "Fitted binormal ROC curves",
        [f"Binormal a and b by {binormal['method']}: TPF = Φ(a + b·Φ⁻¹(FPF)), area Φ(a/√(1+b²)). Continuous ratings "
         "are cut at the deciles of each reader's ratings in the arm before fitting. The fits describe the curves; "
         "the analysis above uses the empirical (trapezoidal) figures of merit. The proper binormal model is not "
         "fitted."],
        [Table("Binormal fits", ["Reader", "Arm", "a", "b", "Binormal AUC", "Empirical AUC", "Categories"], rows)],
        [("binormal_roc", "Empirical ROC curve of each reader (solid) and its fitted binormal curve (dashed), "
                          "per arm")],
    )
