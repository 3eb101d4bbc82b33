"""The R cross-check (MRMCaov) beside this platform's RRRC difference."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number, p_value


def build(run: AnalysisRun, results: dict) -> Section | None:
    section = results["r_crosscheck"]
    if not section.get("requested"):
        return None
    if not section.get("available"):
        return Section("R cross-check (MRMCaov)", [f"Not available: {section.get('reason')}. "
                                                   f"{section.get('how_to_install', '')}"])
    ours = results["primary"]["rrrc"]["differences"][0]
    rows = [[f"This platform ({' - '.join(ours['treatments'])})", number(ours["estimate"], 5),
             number(ours["se"], 5), number(ours["df"], 2), interval(ours["ci"], 5), p_value(ours["p"])],
            [f"MRMCaov ({section['comparison']})" if section.get("comparison") else "MRMCaov",
             number(section["estimate"], 5), number(section["se"], 5), number(section["df"], 2),
             interval(section["ci"], 5), p_value(section["p"])]]
    return Section("R cross-check (MRMCaov)", [], [Table("RRRC difference", ["Software", "Estimate", "SE", "df",
                                                                             "CI", "p"], rows)])
