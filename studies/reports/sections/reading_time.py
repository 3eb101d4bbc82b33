"""Reading time per arm and its relative change, and what readers did per case in each arm."""

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
    paragraphs = ["Seconds per case from opening to submission. Intervals account for clustering by reader and "
                  "by case."]
    tables = [Table("Per arm", ["Arm", "Reads", "Mean", "Median", "IQR"], arm_rows),
              Table("Relative change", ["Comparison", "Pairs", "Ratio", "CI", "Change", "Difference (s)", "CI (s)"],
                    comparison_rows)]
    activity = section.get("interactions") or {"available": False, "reason": "not computed for this run"}
    if activity["available"]:
        paragraphs.append("What readers did per case, from the workstation's record of each read: the seconds the "
                          "case's images were on screen where the reader was looking, and the window/level, zoom and "
                          "pan changes and AI overlay toggles they made (median, with the mean in brackets).")
        tables.append(Table("Per case, by arm", ["Arm", "Reads with a record", "Image time (s)", "Images viewed",
                                                 "W/L changes", "Zoom changes", "Pan changes", "AI toggles"],
                            [_activity_row(arm, summary) for arm, summary in activity["by_arm"].items()]))
    else:
        paragraphs.append(f"What readers did per case is not summarised: {activity['reason']}.")
    return Section("Reading time", paragraphs, tables, [("reading_time", "Reading time per reader and arm")])


def _activity_row(arm: str, summary: dict) -> list[str]:
    if not summary["n_reads"]:
        return [arm, "0", "–", "–", "–", "–", "–", "–"]
    counts = [f"{number(summary[c]['median'], 1)} ({number(summary[c]['mean'], 1)})"
              for c in ("wl_changes", "zoom_changes", "pan_changes", "ai_toggles")]
    return [arm, str(summary["n_reads"]), number(summary["median_dwell_s"], 1),
            number(summary["median_images_viewed"], 1), *counts]
