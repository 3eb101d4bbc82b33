"""What a report says, built once from a run's stored results and rendered as HTML or PDF.

Numbers come from ``run.results`` only: a report can be regenerated at any time and shows
what the run computed, never a recomputation. The sections live in ``studies.reports.sections``
(one module each; its docstring says how to add one).
"""

from studies.models import AnalysisRun

from .elements import Section, Table, interval, number, p_value
from .sections import build_sections

__all__ = ["Section", "Table", "interval", "number", "p_value", "report_sections", "report_title"]


def report_sections(run: AnalysisRun) -> list[Section]:
    """The report's sections in order, for a run that succeeded."""
    return build_sections(run)


def report_title(run: AnalysisRun) -> str:
    kind = "Interim analysis" if run.is_interim else "Analysis"
    return f"{kind} report: {run.results['study']['title']}"
