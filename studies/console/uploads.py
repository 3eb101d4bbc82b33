"""The console's Images page: DICOM files, folders and zip archives uploaded in resumable chunks
(studies/static/studies/uploader.js speaks the protocol of studies.services.uploads), and each upload's
import report."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.middleware.csrf import get_token
from django.shortcuts import render

from studies.models import Upload
from studies.services import uploads

from .setup import study_to_change

PARALLEL_FILES = 3  # files sent at once: many small files move faster, one stream fills a link alone


@login_required
def images(request, study_id: int):
    study = study_to_change(request, study_id)
    recent = uploads.recent_uploads(study=study)
    unfinished = [upload for upload in recent if upload.created_by_id == request.user.pk
                  and upload.status in uploads.UNFINISHED]
    config = {
        "uploads": f"/api/v1/studies/{study.pk}/uploads/",
        "csrfToken": get_token(request),
        "chunkBytes": settings.UPLOAD_CHUNK_MAX_BYTES,
        "maxBytes": settings.UPLOAD_MAX_BYTES,
        "parallel": PARALLEL_FILES,
    }
    context = {"study": study, "tab": "images", "config": config, "recent": [u for u in recent if u not in unfinished],
               "unfinished": unfinished, "importing": Upload.Status.IMPORTING}
    return render(request, "console/images.html", context)
