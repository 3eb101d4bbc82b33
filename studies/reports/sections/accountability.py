"""Subject accountability: what became of every case enrolled (excluded with its reason, read per arm, analysed),
counted as a CONSORT or STARD flow diagram counts, from the facts the run froze."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table, arm_label


def build(run: AnalysisRun, results: dict) -> Section | None:
    part = results.get("accountability")
    if not part or not part.get("available"):
        return None
    table = part["table"]
    not_analysed = table["not_analysed"]
    flow = [["Enrolled (training cases not counted)", str(table["enrolled"])],
            ["Excluded by the coordinator, with a reason", str(not_analysed["excluded"])],
            ["Without reference-standard truth", str(not_analysed["no_truth"])],
            ["Never read", str(not_analysed["never_read"])],
            ["Analysed", str(table["analysed"])]]
    reading = [[arm_label(results, row["arm"]), str(row["complete"]), str(row["partial"]), str(row["none"])]
               for row in table["read_per_arm"]]
    tables = [Table("Cases from enrolment to analysis (each case counted once, in this order)", ["", "Cases"], flow),
              Table("Cases read per arm", ["Arm", "Read by every reader scheduled", "Read by some", "Not read"],
                    reading)]
    if table["excluded"]:
        tables.append(Table("Cases excluded from the analysis", ["Case", "Reason"],
                            [[entry["case"], entry["reason"]] for entry in table["excluded"]]))
    paragraph = (f"Of {table['enrolled']} cases enrolled, {table['analysed']} were analysed; "
                 f"{not_analysed['excluded']} were excluded, {not_analysed['no_truth']} had no reference-standard "
                 f"truth and {not_analysed['never_read']} were never read. Counted from the cases and the schedule "
                 "as the run froze them.")
    return Section("Subject accountability", [paragraph], tables)
