"""Each reader's results per arm."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, number


def build(run: AnalysisRun, results: dict) -> Section:
    table = results["reader_table"]
    arms = results["primary"]["treatments"]
    header = ["Reader"] + [f"{results['primary']['fom']} {arm}" for arm in arms]
    header += [f"Sens {arm}" for arm in arms] + [f"Spec {arm}" for arm in arms] + [f"s/case {arm}" for arm in arms]
    rows = [
        [row["reader"]] + [number(row["fom"].get(arm)) for arm in arms]
        + [number(row["sensitivity"].get(arm)) for arm in arms] + [number(row["specificity"].get(arm)) for arm in arms]
        + [number(row["mean_seconds"].get(arm), 1) for arm in arms]
        for row in table.get("rows", [])
    ]
    return Section("Reader-level results", [], [Table("Per reader and arm", header, rows)])
