"""The ``design`` section of a run's results: the schedule's planned design beside the reads' actual pattern.

The design *found* is what ``mrmc.stats`` detected in the frozen reads (fully crossed, split-plot or
partially paired, its reader blocks and the reads missing within them); the design *planned* is the
study's design, its reader groups (``Reader.group``), case blocks (``Case.reading_group``) and the
scheduled reads (assignments). Planned reads that are not in the snapshot are listed too, so a case
nobody read, or a reader who read nothing, is visible rather than silently absent.
"""

from collections import Counter, defaultdict

from mrmc.stats.designs import MISSING_LISTED
from mrmc.stats.report import CONVENTION_NOTES, METHOD_NOTES, design_json
from studies.models import Assignment, Study
from studies.selectors import study_cases

MISSING_IN_SUMMARY = 3  # missing reads named in the one-line summary (all are listed in the section)


def design_section(study: Study, primary, reads: set[tuple[str, str, str]]) -> dict:
    """Planned and found design, the method and convention used, and the reads missing.

    ``primary`` is the run's primary result (``ORResult`` or ``UStatResult``); ``reads`` holds the
    snapshot's reads as (arm, reader, case).
    """
    planned = planned_design(study, reads)
    found = primary.design
    convention = getattr(primary, "convention", None)  # U-statistics have none
    return {
        "summary": f"planned: {planned['phrase']}; found: {found_phrase(found)}",
        "planned": planned,
        "found": design_json(found),
        "method": primary.method,
        "method_note": METHOD_NOTES[primary.method],
        "convention": convention,
        "convention_note": CONVENTION_NOTES[convention] if convention else None,
        "missing_reads": {
            "count": found.n_missing,
            "listed": [{"reader": r, "arm": t, "case": c} for t, r, c in found.missing],
            "not_listed": found.n_missing - len(found.missing),
        },
    }


def planned_design(study: Study, reads: set[tuple[str, str, str]]) -> dict:
    """The schedule's design: reader groups, case blocks, and scheduled reads absent from ``reads``."""
    groups = defaultdict(list)
    for code, group in study.readers.order_by("group", "code").values_list("code", "group"):
        groups[group].append(code)
    case_blocks = Counter(study_cases(study).filter(truth__isnull=False).values_list("reading_group", "truth"))
    scheduled = set(
        Assignment.objects.filter(session__study=study, case__truth__isnull=False)
        .values_list("arm__name", "reader__code", "case__label")
    )
    unread = sorted(scheduled - reads, key=lambda cell: (cell[1], cell[0], cell[2]))
    design_label = Study.Design(study.design).label
    n_groups = len(groups)
    return {
        "design": study.design,
        "design_label": design_label,
        "phrase": f"{design_label.split(' (')[0].lower()}, {n_groups} reader group{'s' if n_groups != 1 else ''}",
        "reader_groups": [{"group": group, "readers": codes} for group, codes in sorted(groups.items())],
        "case_blocks": [
            {"reading_group": block, "n_normal": case_blocks[(block, 0)], "n_abnormal": case_blocks[(block, 1)]}
            for block in sorted({block for block, _ in case_blocks})
        ],
        "scheduled_reads": len(scheduled),
        "unread_scheduled": {
            "count": len(unread),
            "listed": [{"reader": r, "arm": t, "case": c} for t, r, c in unread[:MISSING_LISTED]],
        },
    }


def found_phrase(design) -> str:
    """E.g. "split-plot: 2 reader groups, each reading its own case block, with 1 missing read (R03 × aided
    × case C017)"."""
    n_blocks = len(design.blocks)
    shape = ("every reader reading the same cases" if n_blocks == 1
             else f"{n_blocks} reader groups, each reading its own case block")
    if not design.n_missing:
        return f"{design.label} ({shape})"
    named = ", ".join(f"{r} × {t} × case {c}" for t, r, c in design.missing[:MISSING_IN_SUMMARY])
    more = design.n_missing - min(len(design.missing), MISSING_IN_SUMMARY)
    count = f"{design.n_missing} missing read{'s' if design.n_missing != 1 else ''}"
    return f"{design.label}: {shape}, with {count} ({named}{f' and {more} more' if more else ''})"
