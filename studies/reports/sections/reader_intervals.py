"""Each reader's figure of merit with its interval, the FRRC per-reader differences, and the arm
intervals of every generalization (RRRC, FRRC, RRFC)."""

from studies.models import AnalysisRun
from studies.reports.elements import (
    GENERALIZATIONS,
    Section,
    Table,
    arm_label,
    difference_label,
    interval,
    number,
    p_value,
)


def build(run: AnalysisRun, results: dict) -> Section | None:
    intervals, primary = results.get("reader_intervals"), results["primary"]
    if not intervals or "error" in intervals:
        return None
    reader_rows = [[reader, arm_label(results, arm), number(value["estimate"], 4), number(value["se"], 4),
                    interval(value["ci"], 4)]
                   for arm, readers in intervals["by_arm"].items() for reader, value in readers.items()]
    fom_name = primary.get("fom_label", primary["fom"])
    tables = [Table(f"{fom_name} per reader and arm", ["Reader", "Arm", "Estimate", "SE", "CI"], reader_rows)]
    frrc = primary.get("frrc") or {}
    if frrc.get("reader_differences"):
        tables.append(Table("Per-reader differences (FRRC: each reader's own cases-random test)",
                            ["Reader", "Difference", "Estimate", "SE", "z", "p", "CI"],
                            [[d["reader"], difference_label(results, d["treatments"]), number(d["estimate"], 4),
                              number(d["se"], 4), number(d["statistic"], 2), p_value(d["p"]), interval(d["ci"], 4)]
                             for d in frrc["reader_differences"]]))
    arm_rows = [[GENERALIZATIONS[name], arm_label(results, arm), number(ci["estimate"], 4), number(ci["se"], 4),
                 number(ci["df"], 2) if ci["df"] is not None else "∞ (z)", interval(ci["ci"], 4)]
                for name in GENERALIZATIONS if primary.get(name) for arm, ci in primary[name]["treatment_ci"].items()]
    tables.append(Table("Arm means by generalization", ["Analysis", "Arm", "Estimate", "SE", "df", "CI"], arm_rows))
    confidence = f"{100 * (1 - primary['alpha']):g}%"
    return Section(
        "Reader-level intervals and arm intervals",
        [f"Each reader's {fom_name} with its case-sampling SE ({intervals['method']} covariance) and a "
         f"{confidence} {intervals['ci_kind']} interval, which can pass 1 for readers near the ceiling. "
         "Per-reader differences use that reader's own error variance and Cov1 (FRRC)."],
        tables,
    )
