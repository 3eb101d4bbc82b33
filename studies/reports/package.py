"""A run's report as files of a submission package (:mod:`studies.services.package`), which the services
layer renders through this function rather than importing the reports."""

from studies.models import AnalysisRun
from studies.services.package_parts import PackageFile

from . import render_html, render_pdf


def report_files(run: AnalysisRun) -> list[PackageFile]:
    return [PackageFile("analysis/report.pdf", render_pdf(run), "The analysis report (PDF)"),
            PackageFile("analysis/report.html", render_html(run).encode(),
                        "The analysis report (HTML, figures embedded)")]
