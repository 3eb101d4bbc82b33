"""The primary Obuchowski-Rockette analysis of the figure of merit."""

from studies.models import AnalysisRun
from studies.reports.elements import GENERALIZATIONS, Section, Table, difference_label, interval, number, p_value


def _difference_rows(results: dict, name: str, generalization: dict | None) -> list[list[str]]:
    if generalization is None:
        return []
    return [
        [GENERALIZATIONS[name], difference_label(results, d["treatments"]), number(d["estimate"], 4),
         number(d["se"], 4), interval(d["ci"], 4), number(d["df"], 1), number(d["statistic"], 3), p_value(d["p"])]
        for d in generalization["differences"]
    ]


def build(run: AnalysisRun, results: dict) -> Section:
    primary = results["primary"]
    arms, readers = primary["treatments"], primary["readers"]
    fom_rows = [[reader] + [number(primary["fom_table"][arm][reader], 4) for arm in arms] for reader in readers]
    fom_rows.append(["Mean"] + [number(primary["treatment_means"][arm], 4) for arm in arms])
    ci_rows = [
        [arm, number(ci["estimate"], 4), number(ci["se"], 4), interval(ci["ci"], 4), number(ci["df"], 1)]
        for arm, ci in (primary["rrrc"] or primary["frrc"])["treatment_ci"].items()
    ]
    difference_rows = [row for name in GENERALIZATIONS for row in _difference_rows(results, name, primary[name])]
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
            Table(f"{primary['fom']} per reader and arm", ["Reader", *arms], fom_rows),
            Table("Arm means (RRRC intervals)", ["Arm", "Estimate", "SE", "CI", "df"], ci_rows),
            Table("Global tests of equal arm means", ["Analysis", "Statistic", "df1", "df2", "p"], test_rows),
            Table("Differences between arms", ["Analysis", "Arms", "Estimate", "SE", "CI", "df", "Statistic", "p"],
                  difference_rows),
            Table("OR variance components and correlations", ["Component", "Value"], component_rows),
        ],
        [("roc_curves", "Empirical ROC curves per arm: each reader (thin) and the pooled ROC curve of all "
                        "readers' ratings pooled (bold), which is not the readers' average curve"),
         ("reader_foms", "Reader figures of merit by arm")],
    )


def _differences_named(results: dict) -> str:
    """The differences as the results computed them (e.g. 'AI-aided − Unaided'), whatever the arm order."""
    generalization = results["primary"]["rrrc"] or results["primary"]["frrc"]
    return "; ".join(difference_label(results, d["treatments"]) for d in generalization["differences"]) or "none"
