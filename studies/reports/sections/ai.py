"""The AI's standalone performance and the AI versus the readers."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, interval, number, p_value


def build(run: AnalysisRun, results: dict) -> Section:
    standalone, versus = results["ai_standalone"], results["ai_versus_readers"]
    if not standalone.get("available"):
        return Section("AI standalone performance", [standalone.get("reason") or standalone.get("error", "")])
    model = standalone["model"]
    paragraphs = [f"{model['name']} {model['version']}: AUC {number(standalone['auc'])} "
                  f"(SE {number(standalone['se'])}, 95% CI {interval(standalone['ci'])}), DeLong."]
    tables = []
    if versus.get("available"):
        tables.append(Table(
            f"Readers' mean {versus['fom']} minus the AI's (AI as a fixed reader, FRRC)",
            ["Arm", "Readers' mean", "AI", "Difference", "SE", "CI", "p"],
            [[arm, number(v["readers_mean_fom"]), number(v["ai_fom"]), number(v["difference"], 4),
              number(v["se"], 4), interval(v["ci"], 4), p_value(v["p"])] for arm, v in versus["by_arm"].items()],
        ))
    else:
        paragraphs.append(f"AI versus readers not computed: {versus.get('reason') or versus.get('error')}")
    return Section("AI standalone performance", paragraphs, tables,
                   [("ai_roc", "AI ROC curve with the readers' operating points")])
