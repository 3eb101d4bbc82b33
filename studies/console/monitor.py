"""The console's readiness and monitoring pages, and a CSV file of each of their tables.

Members of the study see both (coordinators, statisticians, admins); the readiness page offers those who
may change the study its next step, sent to the set-up's transition (``console-study-transition``), which
``transition_study`` refuses with the failing items. Readers are refused; users outside the study are told
it does not exist.
"""

from datetime import UTC, date, datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from studies.models import Study
from studies.permissions import Action, can, visible_studies
from studies.services import audit, monitoring, readiness
from studies.services import studies as study_services
from studies.services.tables import Table, csv_text

PAGE_ROWS = 50  # rows of a table on the page; its CSV file has all


def _study(request, study_id: int, action: Action) -> Study:
    """The study if the user may ``action`` on it: 404 where they may not see it at all, else 403."""
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    if not can(request.user, action, study):
        raise PermissionDenied(f"{request.user.username} may not {action.value.replace('_', ' ')} of this study")
    return study


@login_required
@require_GET
def readiness_page(request, study_id: int):
    """Both gates; those who may change the study start its next step from here (the set-up's transition)."""
    study = _study(request, study_id, Action.VIEW_STUDY)
    result = readiness.readiness(study)
    allowed_next = study_services.ALLOWED_TRANSITIONS.get(study.status, set())
    context = {"study": study, "tab": "readiness", "readiness": result,
               "tables": [_shown(study, table, "readiness") for table in result.tables],
               "next_gate": next((gate for gate in result.gates if gate.to in allowed_next), None),
               "can_start": can(request.user, Action.CHANGE_STUDY, study)}
    return render(request, "console/readiness.html", context)


@login_required
@require_GET
def monitor_page(request, study_id: int):
    study = _study(request, study_id, Action.VIEW_READS)
    dashboard = monitoring.monitoring(study)
    context = {"study": study, "tab": "monitor", "dashboard": dashboard,
               "tables": [_shown(study, table, "monitor") for table in dashboard.tables]}
    return render(request, "console/monitor.html", context)


def _shown(study: Study, table: Table, page: str) -> dict:
    """A table as ``page`` shows it: its first rows, dates and times in UTC to the minute, and its CSV file's URL."""
    rows = [[_cell(value) for value in row] for row in table.rows[:PAGE_ROWS]]
    csv_url = reverse(f"console-{page}-{table.name.replace('_', '-')}-csv", kwargs={"study_id": study.pk})
    return {"table": table, "rows": rows, "hidden": max(0, len(table.rows) - PAGE_ROWS), "csv": csv_url}


def _cell(value):
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def _csv(request, study: Study, table: Table) -> HttpResponse:
    filename = f"study-{study.pk}-{table.name}.csv"
    audit.record_download(actor=request.user, study_id=study.pk, filename=filename)
    response = HttpResponse(csv_text(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def monitor_csv(table_name: str):
    """The view of one monitoring table's CSV file (one route per table)."""
    return _csv_view(Action.VIEW_READS, lambda study: monitoring.monitoring_table(study, table_name))


def readiness_csv(table_name: str):
    """The view of one counterbalancing table's CSV file (one route per table); 404 before a schedule exists."""

    def table(study: Study) -> Table:
        tables = {table.name: table for table in readiness.schedule_tables(study)}
        if table_name not in tables:
            raise Http404("the study has no schedule yet")
        return tables[table_name]

    return _csv_view(Action.VIEW_STUDY, table)


def _csv_view(action: Action, table):
    """A view answering the CSV file of ``table(study)`` to those who may ``action`` on the study."""

    @login_required
    @require_GET
    def view(request, study_id: int):
        study = _study(request, study_id, action)
        return _csv(request, study, table(study))

    return view
