"""Power for a follow-up study from this study's variance components."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table


def build(run: AnalysisRun, results: dict) -> Section:
    section = results["power"]
    if "error" in section:
        return Section("Power for a follow-up study", [section["error"]])
    rows = [[str(row["readers"]), "not reachable" if row["cases"] is None else str(row["cases"])]
            for row in section["rows"]]
    return Section(
        "Power for a follow-up study",
        [f"Cases needed for {100 * section['target_power']:g}% power to detect an AUC difference of "
         f"{section['effect_size']:g} (alpha {section['alpha']:g}, RRRC), from this study's OR variance components."],
        [Table("Sample size", ["Readers", "Cases"], rows)],
    )
