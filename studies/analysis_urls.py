"""Pages for statisticians (included under /analysis/ by config/urls.py)."""

from django.urls import path

from . import analysis_pages, model_update_pages

urlpatterns = [
    path("studies/<int:study_id>/", analysis_pages.study_runs, name="analysis-study-runs"),
    path("runs/<int:run_id>/", analysis_pages.run_page, name="analysis-run-page"),
    path("runs/<int:run_id>/package.zip", analysis_pages.run_package, name="analysis-run-package"),
    path("studies/<int:study_id>/evaluations/", model_update_pages.study_evaluations,
         name="analysis-study-evaluations"),
]
