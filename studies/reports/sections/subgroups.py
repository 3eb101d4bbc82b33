"""The primary analysis within each subgroup level."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, difference_label, interval, number, p_value


def build(run: AnalysisRun, results: dict) -> Section:
    section = results["subgroups"]
    if "error" in section:
        return Section("Subgroup analyses", [section["error"]])
    arms = results["primary"]["treatments"]
    rows = []
    for row in section["rows"]:
        difference = (row.get("differences") or [None])[0]
        status = "too small" if row["too_small"] else (row["error"] or "")
        rows.append([row["variable"], row["level"], str(row["n_normal"]), str(row["n_abnormal"])]
                    + [number((row.get("treatment_means") or {}).get(arm)) for arm in arms]
                    + [number(difference and difference["estimate"], 4),
                       interval(difference and difference["ci"], 3), p_value(difference and difference["p"]), status])
    return Section(
        "Subgroup analyses",
        [f"Same OR analysis within each level; flagged 'too small' below {section['min_cases_per_class']} cases "
         "per truth class. Not adjusted for multiplicity."],
        [Table(f"Subgroups (differences: {_named(results, section['rows'])})",
               ["Variable", "Level", "Non-dis.", "Dis.", *arms, "Difference", "CI", "p", "Flag"],
               rows)],
    )


def _named(results: dict, rows: list[dict]) -> str:
    """The difference the rows hold, as the results computed it (the primary's when no row has one)."""
    for row in rows:
        if row.get("differences"):
            return difference_label(results, row["differences"][0]["treatments"])
    return difference_label(results, results["primary"]["treatments"][:2])
