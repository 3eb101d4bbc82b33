"""Inter-reader agreement per arm."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number


def build(run: AnalysisRun, results: dict) -> Section:
    section = results["agreement"]
    if "error" in section:
        return Section("Inter-reader agreement", [section["error"]])
    rows = []
    for arm, values in section["by_arm"].items():
        kappa, icc = values["fleiss_kappa"], values["icc"]
        rows.append([arm, values["kappa_source"] or "–", number(kappa and kappa["kappa"]),
                     number(icc["icc_agreement"]), interval(icc["ci_agreement"]),
                     number(icc["icc_consistency"]), interval(icc["ci_consistency"])])
    return Section("Inter-reader agreement", [], [Table(
        "Per arm", ["Arm", "Calls", "Fleiss' kappa", "ICC(2,1)", "CI", "ICC(3,1)", "CI"], rows)])
