"""Score changes after the AI in sequential reading."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table


def build(run: AnalysisRun, results: dict) -> Section | None:
    section = results["sequential"]
    if not section.get("available"):
        return None
    rows = [["All reads", str(section["increased"]), str(section["decreased"]), str(section["unchanged"])],
            ["Diseased", str(section["increased_diseased"]), str(section["decreased_diseased"]), ""],
            ["Non-diseased", str(section["increased_normal"]), str(section["decreased_normal"]), ""]]
    paragraphs = [f"Score changes from {section['unaided']} to {section['aided']} over {section['n_reads']} reads."]
    if section["decision_to_positive"] is not None:
        paragraphs.append(
            f"Calls at {section['threshold']:g}: {section['decision_to_positive']} to positive, "
            f"{section['decision_to_negative']} to negative; {section['decision_corrected']} corrected, "
            f"{section['decision_spoiled']} made wrong.")
    return Section("Sequential reading: score changes after the AI", paragraphs,
                   [Table("Direction of change", ["Reads", "Increased", "Decreased", "Unchanged"], rows)])
