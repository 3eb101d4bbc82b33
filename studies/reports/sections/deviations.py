"""The protocol-deviation log as the run froze it: counts by kind and severity with how many were reviewed, the
classification rules, and every deviation with its review."""

from studies.models import AnalysisRun, ProtocolDeviation
from studies.reports.elements import Section, Table
from studies.services.deviations import rules_text


def build(run: AnalysisRun, results: dict) -> Section | None:
    part = results.get("accountability")
    if not part or not part.get("available"):
        return None
    log = part["deviations"]
    entries = log["deviations"]
    if not entries:
        return Section("Protocol deviations", [f"No protocol deviation was found or recorded. {_rules(log)}"])
    major = sum(1 for entry in entries if entry["severity"] == ProtocolDeviation.Severity.MAJOR)
    reviewed = sum(1 for entry in entries if entry["reviewed_at"])
    counts = [[row["kind_label"], row["severity"], str(row["n"]), f"{row['reviewed']} of {row['n']}"]
              for row in log["counts"]]
    rows = [[entry["occurred_at"][:10], _kind_label(entry["kind"]), _severity(entry), entry["reader"] or "–",
             entry["case"] or "–", entry["description"], _review(entry)] for entry in entries]
    paragraph = (f"{len(entries)} deviations, {major} of them major; {reviewed} reviewed by the coordinator. "
                 f"{_rules(log)}")
    return Section("Protocol deviations", [paragraph], [
        Table("Deviations by kind and severity", ["Kind", "Severity", "Deviations", "Reviewed"], counts),
        Table("Deviation log", ["Date", "Kind", "Severity", "Reader", "Case", "What happened", "Review"], rows),
    ])


def _rules(log: dict) -> str:
    return rules_text(log["rules"], log["window_days"])


def _kind_label(kind: str) -> str:
    return ProtocolDeviation.Kind(kind).label


def _severity(entry: dict) -> str:
    if entry["reclassified_from"]:
        return f"{entry['severity']} (was {entry['reclassified_from']})"
    return entry["severity"]


def _review(entry: dict) -> str:
    if not entry["reviewed_at"]:
        return "not reviewed"
    return f"{entry['reviewed_by']}, {entry['reviewed_at'][:10]}: {entry['review_note']}"
