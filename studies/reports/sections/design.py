"""The design the schedule planned beside the design found in the reads, the method used and the reads missing."""

from studies.models import AnalysisRun
from studies.reports.elements import Section, Table


def build(run: AnalysisRun, results: dict) -> Section | None:
    design = results.get("design")
    if design is None:  # runs made before the design was recorded
        return None
    planned, found, missing = design["planned"], design["found"], design["missing_reads"]
    paragraphs = [
        design["summary"][0].upper() + design["summary"][1:] + ".",
        f"Method: {design['method_note']}."
        + (f" Convention: {design['convention_note']}." if design["convention_note"] else ""),
        f"Reads analysed: {found['n_reads']}; missing within the reader groups' case blocks: {missing['count']}; "
        f"scheduled: {planned['scheduled_reads']}, of which not read: {planned['unread_scheduled']['count']}.",
    ]
    if missing["not_listed"]:
        paragraphs.append(f"The table lists the first {len(missing['listed'])} missing reads; "
                          f"{missing['not_listed']} more are not listed.")
    tables = [_groups_table(planned, found)]
    if missing["listed"]:
        tables.append(Table("Missing reads", ["Reader", "Arm", "Case"],
                            [[m["reader"], m["arm"], m["case"]] for m in missing["listed"]]))
    return Section("Design: planned and found", paragraphs, tables)


def _groups_table(planned: dict, found: dict) -> Table:
    rows = [["planned", f"group {group['group']}", ", ".join(group["readers"]), ""]
            for group in planned["reader_groups"]]
    rows += [["planned", f"case block {block['reading_group']}", "",
              f"{block['n_normal']} non-diseased, {block['n_abnormal']} diseased"]
             for block in planned["case_blocks"]]
    rows += [["found", f"block {number}", ", ".join(block["readers"]),
              f"{block['n_normal']} non-diseased, {block['n_abnormal']} diseased"]
             for number, block in enumerate(found["blocks"], start=1)]
    return Table("Reader groups and case blocks", ["", "Group", "Readers", "Cases"], rows)
