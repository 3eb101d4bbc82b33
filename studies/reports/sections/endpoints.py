"""The protocol's hypotheses and each endpoint's decision against its rule."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number


def build(run: AnalysisRun, results: dict) -> Section | None:
    """The protocol's hypotheses and each endpoint's decision; runs stored before endpoints existed have none."""
    decisions = results.get("endpoints")
    if not decisions:
        return None
    if not decisions["specified"]:
        return Section("Hypotheses and decisions", ["The protocol pre-specifies no endpoints."])
    plan = decisions["plan"]
    rows = [_decision_row(endpoint) for endpoint in decisions["endpoints"]]
    return Section(
        "Hypotheses and decisions",
        [f"Pre-specified: alpha {plan['alpha']:g}, {plan['sided']}-sided; differences are the arm that shows the AI "
         f"minus the arm that does not (RRRC), each endpoint succeeding when its lower confidence bound exceeds 0 "
         f"(superiority) or minus its margin (non-inferiority). Co-primary endpoints: all must succeed with the "
         f"primary. Secondary endpoints: Holm's step-down, tested once the primary endpoints succeed.",
         " ".join([f"Primary hypothesis: {decisions['primary_outcome']}.", decisions["note"]]).strip(),
         *[_decision_sentence(endpoint) for endpoint in decisions["endpoints"]]],
        [Table("Endpoint decisions", ["Role", "Endpoint", "Hypothesis", "Difference", "CI", "Decision"], rows)],
    )


def _decision_sentence(endpoint: dict) -> str:
    where = f"{endpoint['role']}; {endpoint['source']}" if "source" in endpoint else endpoint["role"]
    outcome = endpoint.get("statement") or f"{endpoint['decision']}, {endpoint['reason']}"
    return f"{endpoint['label']} ({where}): {outcome}."


def _decision_row(endpoint: dict) -> list[str]:
    margin = f" (margin {endpoint['margin']:g})" if endpoint["margin"] else ""
    level = f" ({100 * endpoint['ci_level']:.4g}%)" if "ci_level" in endpoint else ""
    return [endpoint["role"], endpoint["label"], endpoint["hypothesis"].replace("_", "-") + margin,
            number(endpoint.get("estimate")), interval(endpoint.get("ci")) + level, endpoint["decision"]]
