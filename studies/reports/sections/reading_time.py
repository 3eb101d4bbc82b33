"""Reading time per arm and its relative change."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number


def build(run: AnalysisRun, results: dict) -> Section:
    section = results["reading_time"]
    if not section.get("available"):
        return Section("Reading time", [section.get("reason") or section.get("error", "")])
    arm_rows = [[arm, str(t["n_reads"]), number(t["mean"], 1), number(t["median"], 1),
                 f"{number(t['q1'], 1)}-{number(t['q3'], 1)}"] for arm, t in section["by_arm"].items()]
    comparison_rows = [
        [f"{c['arm']} vs {c['reference']}", str(c["n_pairs"]), number(c["ratio"]), interval(c["ratio_ci"]),
         f"{100 * (c['ratio'] - 1):+.1f}%", number(c["difference"], 1), interval(c["difference_ci"], 1)]
        for c in section["comparisons"]
    ]
    return Section(
        "Reading time",
        ["Seconds per case from opening to submission. Intervals account for clustering by reader and by case."],
        [Table("Per arm", ["Arm", "Reads", "Mean", "Median", "IQR"], arm_rows),
         Table("Relative change", ["Comparison", "Pairs", "Ratio", "CI", "Change", "Difference (s)", "CI (s)"],
               comparison_rows)],
        [("reading_time", "Reading time per reader and arm")],
    )
