"""The primary Obuchowski-Rockette analysis of the figure of merit."""

from studies.models import AnalysisRun
from studies.reports.elements import GENERALIZATIONS, Section, Table, difference_label, interval, number, p_value


def difference_rows(results: dict, name: str, generalization: dict | None) -> list[list[str]]:
    if generalization is None:
        return []
    return [
        [GENERALIZATIONS[name], difference_label(results, d["treatments"]), number(d["estimate"], 4),
         number(d["se"], 4), interval(d["ci"], 4), number(d["df"], 1), number(d["statistic"], 3), p_value(d["p"])]
        for d in generalization["differences"]
    ]


ROC_FIGURES = [("roc_curves", "Empirical ROC curves per arm: each reader (thin) and the pooled ROC curve of all "
                              "readers' ratings pooled (bold), which is not the readers' average curve"),
               ("reader_foms", "Reader figures of merit by arm")]


def build(run: AnalysisRun, results: dict) -> Section:
    primary = results["primary"]
    if primary.get("method") == "ustat":
        return _ustat(results)
    arms = primary["treatments"]
    reader_rows = fom_rows(primary)
    ci_rows = [
        [arm, number(ci["estimate"], 4), number(ci["se"], 4), interval(ci["ci"], 4), number(ci["df"], 1)]
        for arm, ci in (primary["rrrc"] or primary["frrc"])["treatment_ci"].items()
    ]
    differences = [row for name in GENERALIZATIONS for row in difference_rows(results, name, primary[name])]
    test_rows = [
        [GENERALIZATIONS[name], number(primary[name]["test"]["statistic"], 3), str(primary[name]["test"]["df1"]),
         number(primary[name]["test"]["df2"], 1), p_value(primary[name]["test"]["p"])]
        for name in GENERALIZATIONS if primary[name] and primary[name]["test"]
    ]
    components = primary["var_components"]
    component_rows = [[name, number(value, 6)] for name, value in components.items()]
    component_rows += [[name, number(value, 4)] for name, value in primary["correlations"].items()]
    return Section(
        "Primary analysis (Obuchowski-Rockette)",
        [f"Figure of merit: {primary['fom_label']}; {primary['n_abnormal']} diseased and {primary['n_normal']} "
         f"non-diseased cases. Differences: {_differences_named(results)}."],
        [
            Table(f"{primary['fom']} per reader and arm", ["Reader", *arms], reader_rows),
            Table("Arm means (RRRC intervals)", ["Arm", "Estimate", "SE", "CI", "df"], ci_rows),
            Table("Global tests of equal arm means", ["Analysis", "Statistic", "df1", "df2", "p"], test_rows),
            Table("Differences between arms", ["Analysis", "Arms", "Estimate", "SE", "CI", "df", "Statistic", "p"],
                  differences),
            Table("OR variance components and correlations", ["Component", "Value"], component_rows),
        ],
        ROC_FIGURES,
    )


def fom_rows(primary: dict) -> list[list[str]]:
    arms = primary["treatments"]
    rows = [[reader] + [number(primary["fom_table"][arm][reader], 4) for arm in arms] for reader in primary["readers"]]
    return rows + [["Mean"] + [number(primary["treatment_means"][arm], 4) for arm in arms]]


def _ustat(results: dict) -> Section:
    """The U-statistic analysis (iMRMC's convention): each arm's AUC and the differences, with BDG df."""
    primary = results["primary"]

    def rows(estimates: list[dict]) -> list[list[str]]:
        return [[e["label"], number(e["estimate"], 4), number(e["se"], 4), number(e["df_bdg"], 1),
                 interval(e["ci"], 4), p_value(e["p"])] for e in estimates]

    header = ["Estimate of", "Estimate", "SE", "df (BDG)", "CI", "p"]
    return Section(
        "Primary analysis (U-statistics)",
        [f"Figure of merit: AUC; {primary['n_abnormal']} diseased and {primary['n_normal']} non-diseased cases. "
         f"Method: {primary['method_note']}."],
        [Table("AUC per reader and arm", ["Reader", *primary["treatments"]], fom_rows(primary)),
         Table("Arm AUCs", header, rows(primary["treatment_tests"])),
         Table("Differences between arms", header, rows(primary["differences"]))],
        ROC_FIGURES,
    )


def _differences_named(results: dict) -> str:
    """The differences as the results computed them (e.g. 'AI-aided − Unaided'), whatever the arm order."""
    generalization = results["primary"]["rrrc"] or results["primary"]["frrc"]
    return "; ".join(difference_label(results, d["treatments"]) for d in generalization["differences"]) or "none"
