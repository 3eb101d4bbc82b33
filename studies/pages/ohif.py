"""The OHIF Viewer, a third-party DICOMweb viewer, under /ohif/ when ``OHIF_DIST`` names its dist
(deploy/fetch_ohif.py, which makes the build load its files from /ohif/).

Paths with a file extension are the dist's files, served as they are. Any other path is one of the
viewer's own routes (the study list, /ohif/viewer?StudyInstanceUIDs=...): the page that starts it,
for logged-in users. OHIF's own index.html is not used: it sets PUBLIC_URL in inline scripts, which
the Content-Security-Policy refuses; the configuration script below does that instead. The viewer
reads this platform's /dicomweb with the session cookie, so each user sees exactly the studies
DICOMweb shows them (readers their open cases, staff their studies).
"""

import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.static import serve

PUBLIC_PATH = "/ohif/"
APP_BUNDLE = "app.bundle.*.js"


def _dist() -> Path:
    if not settings.OHIF_DIST:
        raise Http404("the OHIF Viewer is not installed here (OHIF_DIST)")
    return Path(settings.OHIF_DIST)


def viewer(request, path: str = ""):
    dist = _dist()
    name = path.rsplit("/", 1)[-1]
    if "." in name and name != "index.html":
        response = serve(request, path, document_root=dist)
        response["Cache-Control"] = "no-cache"  # revalidated (Last-Modified): a new fetch replaces files
        return response
    return _start_page(request, dist)


@login_required
def _start_page(request, dist: Path):
    bundles = sorted(dist.glob(APP_BUNDLE))
    if len(bundles) != 1:
        raise Http404(f"OHIF_DIST has {len(bundles)} files {APP_BUNDLE}, not one: fetch it again (make ohif)")
    context = {"public_path": PUBLIC_PATH, "app_bundle": bundles[0].name}
    response = render(request, "ohif/index.html", context)
    response["Cache-Control"] = "no-store"
    return response


def app_config(request):
    """OHIF's window.config, with this platform's DICOMweb as the only data source."""
    _dist()
    dicomweb_root = reverse("dicomweb-studies").removesuffix("/studies")
    script = ('console.time("scriptToView");\n'  # as OHIF's own index.html: it logs the time to the first view
              f"window.PUBLIC_URL = {json.dumps(PUBLIC_PATH)};\n"
              f"window.config = {json.dumps(ohif_config(dicomweb_root), indent=2)};\n")
    response = HttpResponse(script, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def ohif_config(dicomweb_root: str) -> dict:
    """The keys of OHIF 3.13's app-config.js. QIDO-RS here takes includefield and fuzzymatching;
    thumbnails are this service's rendered /thumbnail resources, images its WADO-RS frames."""
    return {
        "routerBasename": PUBLIC_PATH.rstrip("/"),
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "defaultDataSourceName": "dicomweb",
        "dataSources": [{
            "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
            "sourceName": "dicomweb",
            "configuration": {
                "friendlyName": "MRMC reader studies",
                "name": "mrmc",
                "wadoUriRoot": dicomweb_root,
                "qidoRoot": dicomweb_root,
                "wadoRoot": dicomweb_root,
                "qidoSupportsIncludeField": True,
                "supportsFuzzyMatching": True,
                "supportsWildcard": True,
                "supportsReject": False,
                "dicomUploadEnabled": False,
                "imageRendering": "wadors",
                "thumbnailRendering": "thumbnail",
                "thumbnailRequestStrategy": "fetch",
                "enableStudyLazyLoad": True,
                "staticWado": False,
                "singlepart": "bulkdata,video",
                "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                "omitQuotationForMultipartRequest": True,
            },
        }],
    }
