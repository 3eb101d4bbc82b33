from django.urls import path

from . import analysis, auth, images, reading, staff

urlpatterns = [
    path("auth/token/", auth.TokenLoginView.as_view(), name="api-token"),
    path("auth/logout/", auth.LogoutView.as_view(), name="api-logout"),
    path("auth/logout-all/", auth.LogoutAllView.as_view(), name="api-logout-all"),
    path("studies/", staff.StudyListView.as_view(), name="study-list"),
    path("studies/<int:study_id>/", staff.StudyDetailView.as_view(), name="study-detail"),
    path("studies/<int:study_id>/transition/", staff.StudyTransitionView.as_view(), name="study-transition"),
    path("studies/<int:study_id>/arms/", staff.ArmListView.as_view(), name="arm-list"),
    path("studies/<int:study_id>/cases/", staff.CaseListView.as_view(), name="case-list"),
    path("studies/<int:study_id>/cases/import/", staff.CaseImportView.as_view(), name="case-import"),
    path("studies/<int:study_id>/ai-outputs/", staff.AIOutputListView.as_view(), name="ai-output-list"),
    path("studies/<int:study_id>/ai-outputs/import/", staff.AIOutputImportView.as_view(), name="ai-output-import"),
    path("studies/<int:study_id>/ai-output-sets/", staff.AIOutputSetListView.as_view(), name="ai-output-set-list"),
    path("studies/<int:study_id>/ai-output-sets/<int:set_id>/", staff.AIOutputSetDetailView.as_view(),
         name="ai-output-set-detail"),
    path("studies/<int:study_id>/ai-output-sets/<int:set_id>/show/", staff.AIOutputSetShowView.as_view(),
         name="ai-output-set-show"),
    path("studies/<int:study_id>/ai-output-sets/<int:set_id>/outputs.json", staff.AIOutputSetJsonView.as_view(),
         name="ai-output-set-json"),
    path("studies/<int:study_id>/ai-output-sets/<int:set_id>/outputs.csv", staff.AIOutputSetCsvView.as_view(),
         name="ai-output-set-csv"),
    path("studies/<int:study_id>/ai-models/", staff.AIModelListView.as_view(), name="ai-model-list"),
    path("studies/<int:study_id>/ai-models/<int:model_id>/precompute/", staff.PrecomputeView.as_view(),
         name="ai-model-precompute"),
    path("studies/<int:study_id>/dicom/", images.DicomUploadView.as_view(), name="dicom-upload"),
    path("studies/<int:study_id>/readers/", staff.ReaderListView.as_view(), name="reader-list"),
    path("studies/<int:study_id>/schedule/", staff.ScheduleView.as_view(), name="schedule"),
    path("studies/<int:study_id>/schedule.csv", staff.ScheduleCsvView.as_view(), name="schedule-csv"),
    path("studies/<int:study_id>/progress/", staff.ProgressView.as_view(), name="progress"),
    path("studies/<int:study_id>/reads/", staff.StudyReadsView.as_view(), name="study-reads"),
    path("studies/<int:study_id>/reads.csv", staff.StudyReadsCsvView.as_view(), name="study-reads-csv"),
    path("studies/<int:study_id>/audit/", staff.AuditView.as_view(), name="audit"),
    path("jobs/<int:job_id>/", staff.JobView.as_view(), name="job-detail"),
    path("studies/<int:study_id>/analysis-runs/", analysis.AnalysisRunListView.as_view(), name="analysis-run-list"),
    path("analysis-runs/<int:run_id>/", analysis.AnalysisRunDetailView.as_view(), name="analysis-run-detail"),
    path("analysis-runs/<int:run_id>/power-simulations/", analysis.PowerSimulationView.as_view(),
         name="power-simulation"),
    *[
        path(f"analysis-runs/<int:run_id>/{report}", analysis.report_view(report), {"report": report},
             name=f"analysis-run-{report.replace('.', '-')}")
        for report in analysis.REPORTS
    ],
    *[
        path(f"analysis-runs/<int:run_id>/{export}", analysis.export_view(export), {"export": export},
             name=f"analysis-run-{export.replace('.', '-')}")
        for export in analysis.EXPORTS
    ],
    path("worklist/", reading.WorklistView.as_view(), name="worklist"),
    path("sessions/<int:session_id>/", reading.SessionView.as_view(), name="session-detail"),
    path("assignments/<int:assignment_id>/", reading.AssignmentView.as_view(), name="assignment-detail"),
    path("reads/", reading.ReadListView.as_view(), name="read-list"),
    path("reads/<int:read_id>/", reading.ReadDetailView.as_view(), name="read-detail"),
]
