"""The Dorfman-Berbaum-Metz analysis beside OR, as the Iowa OR-DBM MRMC software prints it."""

from studies.models import AnalysisRun
from studies.reports.elements import (
    GENERALIZATIONS,
    Section,
    Table,
    difference_label,
    interval,
    negative_estimate_note,
    number,
    p_value,
)

USED_AS = {
    "var_R": "It enters no test.",
    "var_C": "It enters no test.",
    "var_TR": "The F test uses MS(T×R) itself, not this component.",
    "var_TC": "The F test's error term uses max(MS(T×C) − MS(T×R×C), 0), as Hillis does.",
    "var_RC": "It enters no test.",
}
SOURCES = {"T": "T", "R": "R", "C": "C", "TR": "T×R", "TC": "T×C", "RC": "R×C", "TRC": "T×R×C"}


def build(run: AnalysisRun, results: dict) -> Section | None:
    dbm = results.get("dbm")
    if not dbm:
        return None
    if not dbm.get("available"):
        reason = dbm.get("reason") or dbm.get("error")
        return Section("DBM analysis (Dorfman-Berbaum-Metz)", [f"Not computed: {reason}."])
    ms_rows = [[label, str(dbm["df"][source]), number(dbm["mean_squares"][source], 8)]
               for source, label in SOURCES.items()]
    component_rows = [[name, number(value, 8)] for name, value in dbm["var_components"].items()]
    test_rows = [["Random readers, random cases (RRRC)", "MS(T×R) + max(MS(T×C) − MS(T×R×C), 0)",
                  number(dbm["denominator"], 8), str(dbm["df1"]), number(dbm["df2"], 2), number(dbm["f"], 3),
                  p_value(dbm["p"])]]
    test_rows += [[GENERALIZATIONS[name], error_term, number(dbm[name]["denominator"], 8), str(dbm[name]["df1"]),
                   str(dbm[name]["df2"]), number(dbm[name]["f"], 3), p_value(dbm[name]["p"])]
                  for name, error_term in (("frrc", "MS(T×C)"), ("rrfc", "MS(T×R)")) if dbm.get(name)]
    difference_rows = [[difference_label(results, d["treatments"]), number(d["estimate"], 5), number(d["se"], 5),
                        number(d["df"], 2), interval(d["ci"], 5), p_value(d["p"])]
                       for d in dbm.get("differences", [])]
    agreement = ("With the jackknife covariance the DBM and OR analyses are the same test: this F, its Hillis df and "
                 "p equal those of the OR RRRC test of these reads (Hillis et al. 2005; Hillis, Berbaum & Metz 2008)."
                 if dbm["identical_to_or"] else
                 "The OR analysis of this run does not use the jackknife over all cases, so its F differs from this "
                 "jackknife-based DBM F.")
    notes = [note for name, used_as in USED_AS.items()
             if (note := negative_estimate_note(name, dbm["var_components"][name], used_as))]
    return Section(
        "DBM analysis (Dorfman-Berbaum-Metz)",
        ["ANOVA of normalized jackknife pseudovalues (treatment × reader × case); r readers, c cases. Readers and "
         "cases random: error term MS(T×R) + max(MS(T×C) − MS(T×R×C), 0) with Hillis' denominator df; readers "
         "fixed: MS(T×C); cases fixed: MS(T×R).", agreement, *notes],
        [Table("Pseudovalue ANOVA", ["Source", "df", "Mean square"], ms_rows),
         Table("DBM variance components", ["Component", "Estimate"], component_rows),
         Table(f"Tests of equal arm means (numerator MS(T) = {number(dbm['mean_squares']['T'], 8)})",
               ["Analysis", "Error term", "Value", "df1", "df2", "F", "p"], test_rows),
         Table("Differences between arms (RRRC; SE = √(2/(r·c) × error term), Hillis df)",
               ["Difference", "Estimate", "SE", "df", "CI", "p"], difference_rows)],
    )
