"""Analysis reports as HTML and PDF, rendered from a finished run's stored results."""

import base64

from django.template.loader import render_to_string

from studies.errors import RuleViolation
from studies.models import AnalysisRun

from .content import report_sections, report_title
from .figures import report_figures
from .pdf import render_pdf_document


def _require_results(run: AnalysisRun) -> None:
    if run.status != AnalysisRun.Status.SUCCEEDED:
        raise RuleViolation(f"analysis run {run.pk} has no results ({run.status})")


def render_html(run: AnalysisRun) -> str:
    """A self-contained HTML report (figures embedded as PNG data URIs)."""
    _require_results(run)
    figures = {name: base64.b64encode(png).decode() for name, png in report_figures(run.results).items()}
    sections = [
        {"section": section, "figures": [(figures[name], caption) for name, caption in section.figures
                                         if name in figures]}
        for section in report_sections(run)
    ]
    return render_to_string("analysis/report.html", {"run": run, "title": report_title(run), "sections": sections})


def render_pdf(run: AnalysisRun) -> bytes:
    """The same report as a PDF (reportlab)."""
    _require_results(run)
    return render_pdf_document(report_title(run), report_sections(run), report_figures(run.results))
