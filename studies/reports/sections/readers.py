"""Each reader's results per arm, and their qualification where the study requires one."""

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
    tables = [Table("Per reader and arm", header, rows)]
    qualification = _qualification_table(table.get("rows", []))
    return Section("Reader-level results", [], tables + ([qualification] if qualification else []))


def _qualification_table(rows: list[dict]) -> Table | None:
    """When each reader qualified and their figures against each criterion of the study's rule (runs made
    before qualification was recorded, or of studies without a rule, have none)."""
    summaries = {row["reader"]: row.get("qualification") for row in rows}
    if not any(summary and summary["required"] for summary in summaries.values()):
        return None
    names = list(dict.fromkeys(criterion["name"] for summary in summaries.values() if summary
                               for criterion in summary["criteria"]))
    body = []
    for reader, summary in summaries.items():
        criteria = {criterion["name"]: criterion for criterion in (summary or {}).get("criteria", [])}
        qualified = (summary or {}).get("qualified_at")
        body.append([reader, qualified[:10] if qualified else "not qualified"]
                    + [_figure(criteria.get(name)) for name in names])
    caption = "Reader qualification (the figures that qualified each reader, else their last; threshold in brackets)"
    return Table(caption, ["Reader", "Qualified on", *names], body)


def _figure(criterion: dict | None) -> str:
    if criterion is None:
        return "–"
    value, threshold = criterion["value"], criterion["threshold"]
    shown = "–" if value is None else f"{value:g}" if isinstance(value, int) else number(value)
    return f"{shown} ({'>' if criterion['name'].endswith('positives_above_negatives') else '≥'} {threshold:g})"
