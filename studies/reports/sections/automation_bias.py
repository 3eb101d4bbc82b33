"""Automation bias: the readers with and without the AI where the AI is right and where it is wrong."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label, interval, number, p_value

TITLE = "Automation bias: AI-correct and AI-wrong cases"
MEASURE_LABELS = {"sensitivity": "Sensitivity", "specificity": "Specificity", "auc": "AUC"}


def build(run: AnalysisRun, results: dict) -> Section | None:
    section = results.get("automation_bias")
    if section is None:  # runs made before this analysis existed
        return None
    if not section.get("available"):
        return Section(TITLE, [f"Not computed: {section.get('reason') or section.get('error')}."])
    unaided, aided = arm_label(results, section["unaided"]), arm_label(results, section["aided"])
    calls, wrong = section["ai_calls"], _stratum(section, "AI wrong")
    paragraphs = [
        f"The AI's calls at its operating point {calls['operating_point']:g} (score at or above it is positive): "
        f"{calls['n_cases'] - wrong['n_cases']} of {calls['n_cases']} cases correct, {wrong['n_cases']} wrong "
        f"({calls['false_negative']} false negatives, {calls['false_positive']} false positives). "
        f"Readers' calls: {section['call_source']}. Arms compared: {unaided} (without the AI) and {aided}.",
        section["method"],
        f"On the cases the AI got wrong, {wrong['harmed']} of {len(wrong['readers'])} readers made fewer correct "
        f"calls with the AI (harmed), {wrong['helped']} more (helped) and {wrong['unchanged']} as many.",
    ]
    tables = [_strata_table(section), _measures_table(section, unaided, aided), _readers_table(section, unaided, aided)]
    if section["sequential"]:
        tables.append(_shifts_table(section))
    return Section(TITLE, paragraphs, tables, [
        ("automation_bias_readers", f"Each reader's accuracy (share of correct calls), {unaided} and {aided}, on the "
                                    "cases the AI got right and on those it got wrong: a line per reader, red where "
                                    "the AI harmed the reader, green where it helped")])


def _stratum(section: dict, name: str) -> dict:
    return next(stratum for stratum in section["strata"] if stratum["stratum"] == name)


def _strata_table(section: dict) -> Table:
    calls = section["ai_calls"]
    made = {"AI correct": f"{calls['true_positive']} true positive, {calls['true_negative']} true negative",
            "AI wrong": f"{calls['false_negative']} false negative, {calls['false_positive']} false positive"}
    return Table("Cases by the AI's call", ["Stratum", "Cases", "Diseased", "Non-diseased", "AI calls"],
                 [[s["stratum"], str(s["n_cases"]), str(s["n_diseased"]), str(s["n_normal"]), made[s["stratum"]]]
                  for s in section["strata"]])


def _measures_table(section: dict, unaided: str, aided: str) -> Table:
    rows = []
    for stratum in section["strata"]:
        for m in stratum["measures"]:
            label = [stratum["stratum"], MEASURE_LABELS[m["measure"]], str(m["n_cases"])]
            if m["reason"]:
                rows.append([*label, f"not computed: {m['reason']}", "", "", "", ""])
                continue
            rows.append([*label, f"{number(m['unaided'])} ({interval(m['unaided_ci'])})",
                         f"{number(m['aided'])} ({interval(m['aided_ci'])})", number(m["difference"]),
                         interval(m["difference_ci"]), p_value(m["p"])])
    return Table(f"Reader-averaged performance by stratum (intervals {_confidence(section)})",
                 ["Stratum", "Measure", "Cases", unaided, aided, f"{aided} − {unaided}", "CI", "p"], rows)


def _confidence(section: dict) -> str:
    generalizations = {m["generalization"] for s in section["strata"] for m in s["measures"] if m["generalization"]}
    return ", ".join(sorted(g.upper() for g in generalizations)) or "not computed"


def _readers_table(section: dict, unaided: str, aided: str) -> Table:
    rows = [[r["reader"], stratum["stratum"], str(r["n_cases"]),
             f"{r['correct_unaided']} ({number(r['accuracy_unaided'])})",
             f"{r['correct_aided']} ({number(r['accuracy_aided'])})", str(r["became_wrong"]), str(r["became_right"]),
             r["effect"]]
            for stratum in section["strata"] for r in stratum["readers"]]
    return Table("Each reader's correct calls (accuracy) on the cases read in both arms",
                 ["Reader", "Stratum", "Cases", f"Correct, {unaided}", f"Correct, {aided}", "Right to wrong",
                  "Wrong to right", "Effect of the AI"], rows)


def _shifts_table(section: dict) -> Table:
    rows = [[s["stratum"], str(s["shifts"]["n_reads"]), str(s["shifts"]["toward_ai"]), str(s["shifts"]["away_from_ai"]),
             str(s["shifts"]["unchanged"]), str(s["shifts"]["calls_to_ai"]), str(s["shifts"]["calls_from_ai"])]
            for s in section["strata"]]
    return Table("Sequential reading: score changes toward or away from the AI's call",
                 ["Stratum", "Reads", "Toward the AI", "Away from the AI", "Unchanged", "Calls changed to the AI's",
                  "Calls changed away from the AI's"], rows)
