"""The OR analysis as the Iowa software prints it: the ANOVA of the figures of merit, the error term
behind each test, and the variance components (negative ones explained)."""

from studies.models import AnalysisRun
from studies.reports.elements import GENERALIZATIONS, Section, Table, negative_estimate_note, number

DENOMINATORS = {
    "rrrc": "MS(T×R) + r·max(Cov2 − Cov3, 0)",
    "frrc": "Var(error) − Cov1 + (r − 1)·max(Cov2 − Cov3, 0)",
    "rrfc": "MS(T×R)",
}
HOW_USED = {
    "var_R": "It enters no test; power calculations use max(var_R, 0).",
    "var_TR": "The OR F test does not use it directly (its error term is built from MS(T×R) and "
              "max(Cov2 − Cov3, 0), as Hillis does); power calculations use max(var_TR, 0).",
}


def build(run: AnalysisRun, results: dict) -> Section | None:
    primary = results["primary"]
    if "mean_squares" not in primary:
        return None
    ms, components = primary["mean_squares"], primary["var_components"]
    anova_rows = [[source, number(ms[key], 8), str(ms[df])] for source, key, df in
                  (("T", "ms_t", "df_t"), ("R", "ms_r", "df_r"), ("T×R", "ms_tr", "df_tr"))]
    test_rows = [_error_term_row(name, primary[name]) for name in GENERALIZATIONS if primary.get(name)
                 and primary[name]["test"]]
    difference = None if None in (components["cov2"], components["cov3"]) else components["cov2"] - components["cov3"]
    component_rows = [[name, number(value, 8)] for name, value in components.items()]
    component_rows.append(["Cov2 − Cov3", number(difference, 8)])
    notes = [note for name in ("var_R", "var_TR")
             if (note := negative_estimate_note(name, components[name], HOW_USED[name]))]
    if difference is not None and difference < 0:
        notes.append(f"Cov2 − Cov3 is {difference:.8f}, below zero: the error terms use max(Cov2 − Cov3, 0) = 0.")
    return Section(
        "OR analysis of variance and error terms",
        ["Treatment × reader ANOVA of the readers' figures of merit (Obuchowski & Rockette 1995), the error term "
         "(denominator) of each global test with its degrees of freedom, and the OR variance components; "
         "r is the number of readers.", *notes],
        [Table("Treatment × reader ANOVA of the figures of merit", ["Source", "Mean square", "df"], anova_rows),
         Table("Error terms of the global tests", ["Analysis", "Error term", "Value", "Statistic", "df1", "df2"],
               test_rows),
         Table("OR variance components and error covariances", ["Component", "Estimate"], component_rows)],
    )


def _error_term_row(name: str, generalization: dict) -> list[str]:
    test = generalization["test"]
    statistic = ("F " if test["df2"] is not None else "χ² ") + number(test["statistic"], 3)
    df2 = "∞ (χ²)" if test["df2"] is None else number(test["df2"], 2)
    return [GENERALIZATIONS[name], DENOMINATORS[name], number(test["denominator"], 8), statistic, str(test["df1"]),
            df2]
