"""The accountability page of the coordinator console (included under /console/) and its forms."""

from django.urls import path

from . import accountability

STUDY = "studies/<int:study_id>/accountability/"

urlpatterns = [
    path(STUDY, accountability.accountability_page, name="console-accountability"),
    path(STUDY + "exclude/", accountability.exclude, name="console-case-exclude"),
    path(STUDY + "withdraw/", accountability.withdraw, name="console-case-withdraw"),
    path(STUDY + "deviations/", accountability.record, name="console-deviation-record"),
    path(STUDY + "deviations/detect/", accountability.detect, name="console-deviation-detect"),
    path(STUDY + "deviations/<int:deviation_id>/review/", accountability.review, name="console-deviation-review"),
]
