"""The report's sections, one module each, in the order the report prints them.

A section is a module in this package with a function ``build(run, results) -> Section | None`` that reads
the run's stored results (never the reads) and returns ``None`` when the results have nothing for it.
To add a section, write the module and put its name in ``SECTION_ORDER`` where it should appear: that
one line is the whole registration.
"""

from importlib import import_module

from studies.models import AnalysisRun
from studies.reports.elements import Section

SECTION_ORDER = [
    "summary",
    "schedule",
    "accountability",
    "deviations",
    "reference_standard",
    "design",
    "methods",
    "primary",
    "anova",
    "dbm",
    "reader_intervals",
    "binormal",
    "endpoints",
    "ai",
    "automation_bias",
    "operating_points",
    "froc",
    "readers",
    "subgroups",
    "case_mix",
    "reading_time",
    "agreement",
    "sequential",
    "power",
    "crosscheck",
    "references",
]


def build_sections(run: AnalysisRun) -> list[Section]:
    """Every registered section that has something to say about this run, in order."""
    built = (import_module(f"{__name__}.{name}").build(run, run.results) for name in SECTION_ORDER)
    return [section for section in built if section is not None]
