"""The reference standard: how the analysed cases' truth was established and, for an expert panel, its agreement
against the thresholds the protocol fixed in advance."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number

METHOD_LABELS = {"imported": "Imported from a truth file", "consensus": "Panel consensus (unanimous)",
                 "majority": "Panel majority", "adjudicated": "Adjudicated"}
STATISTICS = {"cohen": "Cohen's kappa", "fleiss": "Fleiss' kappa"}


def build(run: AnalysisRun, results: dict) -> Section | None:
    part = results.get("reference_standard")
    if not part or not part.get("available"):
        return None
    counts = part["counts"]
    tables = [Table("Cases by how their truth was established", ["Method", "Cases"],
                    [[METHOD_LABELS[method], str(count)] for method, count in counts.items() if count])]
    if part["imported_methods"] and counts["imported"]:
        tables.append(Table("Imported truth by its stated method", ["Method", "Cases"],
                            [[method, str(count)] for method, count in part["imported_methods"].items()]))
    paragraphs = [f"{sum(counts.values())} analysed cases have reference-standard truth."]
    panel = part["panel"]
    if panel:
        paragraphs.append(_panel_paragraph(panel))
        tables.append(_agreement_table(panel))
    return Section("Reference standard", paragraphs, tables)


def _panel_paragraph(panel: dict) -> str:
    rule = panel["rule"]
    rounds = "one blinded round" if rule["rounds"] == 1 else "a blinded round, then an unblinded one"
    final = ("every disagreement adjudicated" if rule["final"] == "adjudicated"
             else "a strict majority deciding, ties and unmatched marks adjudicated")
    adjudicator = f" and adjudicator {panel['adjudicator']}" if panel["adjudicator"] else ""
    status = "final" if panel["final"] else "not yet final"
    return (f"Expert panel {', '.join(panel['truthers'])}{adjudicator}: {rounds}, {final}. "
            f"{panel['disputes']} case(s) disputed, {panel['adjudicated']} adjudicated; the panel's truth is {status}. "
            f"Lesion marks matched at IoU >= {rule['matching']['iou']:g} (points within "
            f"{rule['matching']['point_radius']:g} px).")


def _agreement_table(panel: dict) -> Table:
    rows = []
    for figure in panel["label_by_round"]:
        rows.append([f"Label, round {figure['round']}", STATISTICS[figure["statistic"]], number(figure["kappa"]),
                     interval(figure["ci"]), str(figure["n_cases"]), _threshold(figure)])
    lesion = panel["lesion"]
    if lesion:
        rows.append(["Lesion marks, last round", f"mean Dice ({lesion['n_pairs']} matched pairs, "
                     f"{lesion['n_unmatched']} unmatched)", number(lesion["mean_dice"]), interval(lesion["dice_ci"]),
                     "–", _threshold(lesion)])
        rows.append(["", "mean IoU", number(lesion["mean_iou"]), interval(lesion["iou_ci"]), "–", "–"])
    return Table("Panel agreement (95% intervals; lesion intervals by bootstrap over cases)",
                 ["Figure", "Statistic", "Estimate", "CI", "Cases", "Threshold"], rows)


def _threshold(figure: dict) -> str:
    if figure["threshold"] is None:
        return "none set"
    verdict = "–" if figure["passed"] is None else "met" if figure["passed"] else "NOT met"
    return f"{figure['threshold']:g}: {verdict}"
