"""Readiness and monitoring pages of the coordinator console (included under /console/), with a CSV file
per table."""

from django.urls import path

from studies.services.monitoring import TABLES
from studies.services.readiness import BALANCE_TABLES

from . import monitor

urlpatterns = [
    path("studies/<int:study_id>/readiness/", monitor.readiness_page, name="console-readiness"),
    *[path(f"studies/<int:study_id>/readiness/{name}.csv", monitor.readiness_csv(name),
           name=f"console-readiness-{name.replace('_', '-')}-csv") for name in BALANCE_TABLES],
    path("studies/<int:study_id>/monitor/", monitor.monitor_page, name="console-monitor"),
    *[path(f"studies/<int:study_id>/monitor/{name}.csv", monitor.monitor_csv(name),
           name=f"console-monitor-{name.replace('_', '-')}-csv") for name in TABLES],
]
