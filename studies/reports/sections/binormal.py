"""Fitted binormal ROC curves per reader and arm beside the empirical ones."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label, number


def build(run: AnalysisRun, results: dict) -> Section | None:
    binormal = results.get("binormal")
    if not binormal or "by_arm" not in binormal:
        return None
    empirical = results["primary"]["fom_table"]
    proper = binormal.get("proper_by_arm", {})
    rows = []
    for arm, readers in binormal["by_arm"].items():
        for reader, fit in readers.items():
            area = (empirical.get(arm) or {}).get(reader) if results["primary"]["fom"] == "auc" else None
            proper_fit = proper.get(arm, {}).get(reader, {})
            if "error" in fit:
                rows.append([reader, arm_label(results, arm), "–", "–", "–", "–", "–", number(area, 4), fit["error"]])
                continue
            converged = fit["converged"] and proper_fit.get("converged", True)
            note = ("deciles" if fit["binned"] else f"{fit['n_categories']} ratings") + (
                "" if converged else "; did not converge")
            rows.append([reader, arm_label(results, arm), number(fit["a"], 3), number(fit["b"], 3),
                         number(fit["auc"], 4), number(proper_fit.get("c"), 3), number(proper_fit.get("auc"), 4),
                         number(area, 4), note])
    return Section(
        "Fitted binormal ROC curves",
        [f"Binormal a and b by {binormal['method']}: TPF = Φ(a + b·Φ⁻¹(FPF)), area Φ(a/√(1+b²)). Continuous ratings "
         "are cut at the deciles of each reader's ratings in the arm before fitting. The fits describe the curves; "
         "the analysis above uses the empirical (trapezoidal) figures of merit. The proper binormal curve (Metz & Pan "
         "1999; its c = (1 − b)/(1 + b)) ranks cases by the binormal likelihood ratio, so it never crosses the "
         "chance line where a conventional curve with b far from 1 hooks; it is fitted to the same categories."
         if proper else "the analysis above uses the empirical (trapezoidal) figures of merit."],
        [Table("Binormal and proper binormal fits", ["Reader", "Arm", "a", "b", "Binormal AUC", "Proper c",
                                                      "Proper AUC", "Empirical AUC", "Categories"], rows)],
        [("binormal_roc", "Per arm, each reader's empirical ROC curve (solid), fitted binormal curve (dashed) "
                          "and proper binormal curve (dotted), one colour per reader")],
    )
