"""The AI's standalone performance and the AI versus the readers."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label, interval, number, p_value


def build(run: AnalysisRun, results: dict) -> Section:
    standalone, versus = results["ai_standalone"], results["ai_versus_readers"]
    if not standalone.get("available"):
        return Section("AI standalone performance", [standalone.get("reason") or standalone.get("error", "")])
    model = standalone["model"]
    paragraphs = [f"{model['name']} {model['version']}: AUC {number(standalone['auc'])} "
                  f"(SE {number(standalone['se'])}, 95% CI {interval(standalone['ci'])}), DeLong.",
                  *_provenance(model)]
    tables = _operating_point_tables(standalone.get("operating_point"))
    if versus.get("available"):
        descriptions = sorted({v.get("method_description", v.get("method", "")) for v in versus["by_arm"].values()})
        paragraphs.append(f"AI versus readers: {'; '.join(descriptions)}.")
        tables.append(Table(
            f"Readers' mean {versus['fom']} minus the AI's ({versus['generalization'].upper()})",
            ["Arm", "Readers' mean", "AI", "Difference", "SE", "df", "CI", "p"],
            [[arm_label(results, arm), number(v["readers_mean_fom"]), number(v["ai_fom"]), number(v["difference"], 4),
              number(v["se"], 4), "∞ (z)" if v.get("df") is None else number(v["df"], 1), interval(v["ci"], 4),
              p_value(v["p"])] for arm, v in versus["by_arm"].items()],
        ))
    else:
        paragraphs.append(f"AI versus readers not computed: {versus.get('reason') or versus.get('error')}")
    return Section("AI standalone performance", paragraphs, tables,
                   [("ai_roc", "AI ROC curve with the readers' operating points")])


def _provenance(model: dict) -> list[str]:
    """Which outputs these are: the model and runtime that computed them, or the file they came from."""
    if model.get("model_sha256"):
        ran = "; ".join(f"{entry['runtime']} on {entry['device']}" for entry in model.get("runtimes", []))
        origin = (f"Computed on the platform by the model file with SHA-256 {model['model_sha256']} (model card "
                  f"SHA-256 {model['card_sha256']}), with {ran or 'an unrecorded runtime'}.")
    elif model.get("source_sha256"):
        origin = f"Imported from {model.get('source_name') or 'a file'} (SHA-256 {model['source_sha256']})."
    else:
        return []
    outputs = (f" SHA-256 of the outputs: {model['outputs_sha256']}." if model.get("outputs_sha256") else "")
    return [origin + outputs + " Every read in the AI-aided arm records the output its reader was shown."]


def _operating_point_tables(point: dict | None) -> list[Table]:
    """The AI's own sensitivity and specificity at its stored operating point, when the results have them."""
    if not point or not point.get("available"):
        return []
    rows = [[label, f"{point[key]['count']}/{point[key]['n']}", number(point[key]["estimate"]),
             interval(point[key]["ci"])] for key, label in (("sensitivity", "Sensitivity"),
                                                             ("specificity", "Specificity"))]
    return [Table(f"AI standalone at its operating point ({point['rule']}, {point['threshold']:g}; "
                  f"{point['ci_method']} intervals)", ["Measure", "Cases", "Estimate", "CI"], rows)]
