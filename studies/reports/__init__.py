"""Analysis reports as HTML and PDF, rendered from a finished run's stored results."""

import base64

from django.template.loader import render_to_string

from studies.models import AnalysisRun
from studies.services.analysis_exports import require_download

from .content import report_sections, report_title
from .figures import report_figures
from .pdf import render_pdf_document


def render_html(run: AnalysisRun) -> str:
    """A self-contained HTML report (figures embedded as PNG data URIs)."""
    require_download(run, "report.html")
    figures = {name: base64.b64encode(png).decode() for name, png in report_figures(run.results).items()}
    sections = [
        {"section": section, "figures": [(figures[name], caption) for name, caption in section.figures
                                         if name in figures]}
        for section in report_sections(run)
    ]
    return render_to_string("analysis/report.html", {"run": run, "title": report_title(run), "sections": sections})


def render_pdf(run: AnalysisRun) -> bytes:
    """The same report as a PDF (reportlab)."""
    require_download(run, "report.pdf")
    return render_pdf_document(report_title(run), report_sections(run), report_figures(run.results))
