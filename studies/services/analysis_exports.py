"""Downloads of an analysis run: the frozen reads, the data in other MRMC programs' formats, the results,
and which of them (and of the reports) a run offers."""

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder

from mrmc.stats.exports import imrmc_text, mrmcaov_csv, rjafroc_froc_workbook, rjafroc_workbook
from studies.errors import RuleViolation
from studies.models import AnalysisRun
from studies.services.analysis_snapshot import MARKS_NOT_CAPTURED, parse_snapshot
from studies.services.froc_marks import run_froc_study


@dataclass(frozen=True)
class Export:
    content_type: str
    render: Callable[[AnalysisRun], str | bytes]
    description: str


def _analysed_data(run: AnalysisRun):
    """The reader study the run analysed: every read that exists."""
    return parse_snapshot(run.snapshot_csv).study


def results_document(run: AnalysisRun) -> str:
    """The run's record and results as one JSON document."""
    record = {
        "id": run.pk,
        "study": run.study_id,
        "created_by": run.created_by.username if run.created_by else None,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "status": run.status,
        "error": run.error,
        "is_interim": run.is_interim,
        "study_status": run.study_status,
        "options": run.options,
        "snapshot_sha256": run.snapshot_checksum,
        "marks_snapshot_sha256": run.marks_snapshot_checksum,
        "software_version": run.software_version,
    }
    return json.dumps({"run": record, "results": run.results}, cls=DjangoJSONEncoder, indent=1)


EXPORTS = {
    "reads.csv": Export("text/csv; charset=utf-8", lambda run: run.snapshot_csv,
                        "The frozen reads export (long table, with timings and case metadata)"),
    "mrmcaov.csv": Export("text/csv; charset=utf-8", lambda run: mrmcaov_csv(_analysed_data(run)),
                          "MRMCaov data frame (reader, treatment, case, truth, rating)"),
    "imrmc.imrmc": Export("text/plain; charset=utf-8", lambda run: imrmc_text(
        _analysed_data(run), description=f"Study {run.study_id}, analysis run {run.pk}, sha256 "
                                         f"{run.snapshot_checksum}"), "FDA iMRMC input file"),
    "rjafroc.xlsx": Export("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           lambda run: rjafroc_workbook(_analysed_data(run)), "RJafroc ROC workbook (JAFROC format)"),
    "rjafroc_froc.xlsx": Export("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                lambda run: rjafroc_froc_workbook(run_froc_study(run)),
                                "RJafroc FROC workbook (marks scored against the truth's lesions)"),
    "results.json": Export("application/json", results_document, "The run and its full results"),
}
REPORTS = ("report.html", "report.pdf")
WITHOUT_RESULTS = ("reads.csv",)  # the frozen snapshot exists from the start; everything else needs results
FROC_EXPORTS = ("rjafroc_froc.xlsx",)  # offered where the run has a FROC analysis
CROSSED_EXPORTS = ("rjafroc.xlsx",)  # formats that cannot say a read does not exist


def downloads(run: AnalysisRun) -> list[str]:
    """The reports and exports that ``run`` offers now."""
    if run.status != AnalysisRun.Status.SUCCEEDED:
        return list(WITHOUT_RESULTS)
    results = run.results or {}
    has_froc = bool((results.get("froc") or {}).get("available")) and run.marks_snapshot_checksum is not None
    found = ((results.get("design") or {}).get("found") or {}).get("kind", "fully_crossed")
    return [*REPORTS, *(name for name in EXPORTS
                        if (has_froc or name not in FROC_EXPORTS)
                        and (found == "fully_crossed" or name not in CROSSED_EXPORTS))]


def require_download(run: AnalysisRun, name: str) -> None:
    if name in downloads(run):
        return
    if run.status != AnalysisRun.Status.SUCCEEDED:
        raise RuleViolation(f"analysis run {run.pk} has no results ({run.status})")
    if name in FROC_EXPORTS:
        why = MARKS_NOT_CAPTURED if run.marks_snapshot_checksum is None else "it has no FROC analysis"
    else:
        why = "its reads are not fully crossed"
    raise RuleViolation(f"analysis run {run.pk} offers no {name}: {why}")


def render_export(*, run: AnalysisRun, name: str) -> str | bytes:
    """The content of export ``name`` of ``run``, where the run offers it."""
    require_download(run, name)
    return EXPORTS[name].render(run)
