"""The field-monitoring pages (included under /console/)."""

from django.urls import path

from . import field_monitoring

urlpatterns = [
    path("monitoring/", field_monitoring.deployments_page, name="console-field-monitoring"),
    path("monitoring/<int:deployment_id>/", field_monitoring.deployment_page,
         name="console-field-monitoring-deployment"),
    path("monitoring/alarms/<int:alarm_id>/acknowledge/", field_monitoring.acknowledge,
         name="console-field-monitoring-acknowledge"),
]
