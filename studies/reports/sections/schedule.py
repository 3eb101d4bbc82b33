"""The planned design: arms, washout, sessions per reader and the order in which readers met the arms."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label


def build(run: AnalysisRun, results: dict) -> Section | None:
    schedule = results.get("schedule")
    if not schedule or "error" in schedule:
        return None
    arms = ", ".join(f"{arm['label']}{' (AI shown)' if arm['shows_ai'] else ''}" for arm in results["study"]["arms"])
    sessions = schedule["sessions_per_reader"]
    per_reader = "none scheduled" if sessions is None else (
        str(sessions[0]) if sessions[0] == sessions[1] else f"{sessions[0]} to {sessions[1]}")
    interleaving = ("one arm per session" if not schedule["block_size"]
                    else f"arms interleaved in blocks of {schedule['block_size']} cases")
    paragraphs = [
        f"Planned design: {schedule['design_label']}. Arms: {arms}. Washout between sessions: "
        f"{schedule['washout_days']} days; {interleaving}. Sessions per reader: {per_reader} "
        f"({schedule['readers_scheduled']} readers scheduled).",
    ]
    rows = [[_order_labels(results, entry["order"]), str(entry["readers"])] for entry in schedule["arm_orders"]]
    tables = [Table("Reading order (counterbalancing of arms across readers)", ["Arm order", "Readers"], rows)]
    return Section("Study design and reading schedule", paragraphs, tables if rows else [])


def _order_labels(results: dict, order: str) -> str:
    return " then ".join(arm_label(results, arm) for arm in order.split(" then "))
