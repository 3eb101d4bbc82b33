"""Sensitivity and specificity at the decision threshold, reader-averaged."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, difference_label, interval, number, p_value


def build(run: AnalysisRun, results: dict) -> Section:
    section = results["operating_points"]
    if not section.get("available"):
        return Section("Sensitivity and specificity", [section.get("reason") or section.get("error", "")])
    rows, named = [], None
    for source, measures in section["sources"].items():
        for kind, label in (("sens", "Sensitivity"), ("spec", "Specificity")):
            summary = measures[kind]
            generalization = summary["rrrc"] or summary["frrc"]
            difference = generalization["differences"][0] if generalization["differences"] else None
            named = named or (difference and difference_label(results, difference["treatments"]))
            rows.append([source, label] + [
                f"{number(ci['estimate'])} ({interval(ci['ci'])})" for ci in generalization["treatment_ci"].values()
            ] + [number(difference and difference["estimate"]), p_value(difference and difference["p"])])
    arms = list(results["primary"]["treatments"])
    return Section(
        "Sensitivity and specificity",
        ["Readers averaged with the OR method (RRRC); intervals in parentheses."],
        [Table(f"Sensitivity and specificity by arm (difference: {named or 'none'})",
               ["Call", "Measure", *arms, "Difference", "p"], rows)],
    )
