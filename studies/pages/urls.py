"""Reader-facing pages that host the reading workstation (viewer_static)."""

from django.urls import path

from . import truthing, views

urlpatterns = [
    path("", views.worklist, name="reader-worklist"),
    path("sessions/<int:session_id>/", views.reading, name="reading"),
    path("studies/<int:study_id>/training/", views.training_page, name="reader-training"),
    path("truthing/", truthing.truthing_worklist, name="truthing-worklist"),
    path("truthing/studies/<int:study_id>/", truthing.truthing_page, name="truthing"),
]
