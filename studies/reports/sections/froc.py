"""Localization (FROC): wAFROC, AFROC and HrAuc with their OR analyses, or why the run has none."""

from studies.models import AnalysisRun
from studies.reports.elements import GENERALIZATIONS, Section, Table, number, p_value
from studies.reports.sections.primary import difference_rows, fom_rows

FIGURE_NAMES = {"wafroc": "wAFROC", "afroc": "AFROC", "hrauc": "HrAuc"}


def build(run: AnalysisRun, results: dict) -> Section | None:
    froc = results.get("froc")
    if froc is None:  # runs made before FROC was analysed
        return None
    if not froc["available"]:
        return Section("Localization (FROC)", [f"No FROC analysis: {froc['reason']}."], [])
    paragraphs = [
        f"Marks scored against the truth's {froc['n_lesions']} lesions: a mark on a lesion's image and frame within "
        f"its radius (or {froc['acceptance_radius']} px of its centre) is that lesion's localization (the "
        f"highest-rated per lesion: {froc['n_ll']} in all); every other mark is a non-lesion localization "
        f"({froc['n_nl']}). Primary FROC figure: {FIGURE_NAMES[froc['primary_figure']]}; OR analysis with the "
        "jackknife over cases (RJafroc's convention)."
    ]
    tables = []
    for key, name in FIGURE_NAMES.items():  # in this order: the stored JSON (jsonb) keeps no key order
        figure = froc["figures"][key]
        tables.append(Table(f"{name} per reader and arm", ["Reader", *figure["treatments"]], fom_rows(figure)))
        tables.append(Table(f"{name}: differences between arms",
                            ["Analysis", "Arms", "Estimate", "SE", "CI", "df", "Statistic", "p"],
                            [row for generalization in GENERALIZATIONS
                             for row in difference_rows(results, generalization, figure[generalization])]))
        rrrc = figure["rrrc"]["test"] if figure.get("rrrc") else None
        if rrrc:
            p = p_value(rrrc["p"])
            paragraphs.append(f"{name}, readers and cases random: F({rrrc['df1']}, {number(rrrc['df2'], 1)}) = "
                              f"{number(rrrc['statistic'], 3)}, p {p if p.startswith('<') else '= ' + p}.")
    return Section("Localization (FROC)", paragraphs, tables)
