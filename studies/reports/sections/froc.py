"""Localization (FROC): wAFROC, AFROC and HrAuc with their OR analyses, or why the run has none."""

from studies.models import AnalysisRun
from studies.reports.elements import GENERALIZATIONS, Section, Table, number, p_value
from studies.reports.sections.primary import difference_rows, fom_rows
from studies.services.analysis_snapshot import MARKS_NOT_CAPTURED
from studies.services.froc_marks import FULLY_CROSSED

TITLE = "Localization (FROC)"
FIGURE_NAMES = {"wafroc": "wAFROC", "afroc": "AFROC", "hrauc": "HrAuc"}


def build(run: AnalysisRun, results: dict) -> Section:
    froc = results.get("froc")
    if froc is None:  # runs made before FROC was analysed, and so before marks were captured
        return Section(TITLE, [f"No FROC analysis: {MARKS_NOT_CAPTURED}."], [])
    if not froc["available"]:
        return Section(TITLE, [f"No FROC analysis: {froc['reason']}."], [])
    paragraphs = [
        f"Marks scored against the truth's {froc['n_lesions']} lesions: a mark on a lesion's image and frame within "
        f"the lesion's own radius of its centre, or for a lesion given without one within the acceptance radius of "
        f"{froc['acceptance_radius']:g} px (the study's protocol setting), is that lesion's localization (the "
        f"highest-rated per lesion: {froc['n_ll']} in all); every other mark is a non-lesion localization "
        f"({froc['n_nl']}). Primary FROC figure: {FIGURE_NAMES[froc['primary_figure']]}; OR analysis with the "
        f"jackknife over cases (RJafroc's convention), which needs {FULLY_CROSSED}: these reads are.",
        _provenance(run),
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
    return Section(TITLE, paragraphs, tables)


def _provenance(run: AnalysisRun) -> str:
    if run.marks_snapshot_checksum is None:  # FROC figures of runs made before marks were captured
        return (f"Note: {MARKS_NOT_CAPTURED}; these figures were computed from the marks and lesions in the "
                "database when the run was analysed, and cannot be recomputed from the run.")
    return (f"Marks, lesions and acceptance radius as frozen when the run was created: marks snapshot sha256 "
            f"{run.marks_snapshot_checksum}.")
