"""The console's Images page: resumable DICOM uploads."""

from django.urls import path

from . import uploads

urlpatterns = [
    path("studies/<int:study_id>/images/", uploads.images, name="console-images"),
]
