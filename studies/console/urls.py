"""Console routes, one module per part: set-up, uploads, readiness and monitoring."""

from django.urls import include, path

urlpatterns = [
    path("", include("studies.console.setup_urls")),
    path("", include("studies.console.upload_urls")),
    path("", include("studies.console.monitor_urls")),
    path("", include("studies.console.accountability_urls")),
    path("", include("studies.console.truthing_urls")),
    path("", include("studies.console.population_urls")),
    path("", include("studies.console.field_monitoring_urls")),
]
