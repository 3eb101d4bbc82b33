"""DICOMweb routes (PS3.18 Tables 10.4.1-1, 10.4.1-2 and 10.6.1-1), without trailing slashes as clients send them."""

from django.urls import path, register_converter

from . import stow, views


class UidConverter:
    """A UID (PS3.5 9.1): digits and dots, at most 64 characters."""

    regex = r"[0-9][0-9.]{0,63}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UidConverter, "uid")

STUDY = "studies/<uid:study>"
SERIES = f"{STUDY}/series/<uid:series>"
INSTANCE = f"{SERIES}/instances/<uid:instance>"

FRAMES = f"{INSTANCE}/frames/<str:frame_list>"

urlpatterns = [
    path("studies", views.search_studies, name="dicomweb-studies"),
    path("series", views.search_series, name="dicomweb-all-series"),
    path("instances", views.search_instances, name="dicomweb-all-instances"),
    path(STUDY, views.retrieve, name="dicomweb-study"),
    path(f"{STUDY}/metadata", views.metadata, name="dicomweb-study-metadata"),
    path(f"{STUDY}/rendered", views.rendered, name="dicomweb-study-rendered"),
    path(f"{STUDY}/thumbnail", views.thumbnail, name="dicomweb-study-thumbnail"),
    path(f"{STUDY}/series", views.search_series, name="dicomweb-series-search"),
    path(f"{STUDY}/instances", views.search_instances, name="dicomweb-study-instance-search"),
    path(SERIES, views.retrieve, name="dicomweb-series"),
    path(f"{SERIES}/metadata", views.metadata, name="dicomweb-series-metadata"),
    path(f"{SERIES}/rendered", views.rendered, name="dicomweb-series-rendered"),
    path(f"{SERIES}/thumbnail", views.thumbnail, name="dicomweb-series-thumbnail"),
    path(f"{SERIES}/instances", views.search_instances, name="dicomweb-instance-search"),
    path(INSTANCE, views.retrieve, name="dicomweb-instance"),
    path(f"{INSTANCE}/metadata", views.metadata, name="dicomweb-instance-metadata"),
    path(f"{INSTANCE}/rendered", views.rendered, name="dicomweb-rendered"),
    path(f"{INSTANCE}/thumbnail", views.thumbnail, name="dicomweb-instance-thumbnail"),
    path(FRAMES, views.frames, name="dicomweb-frames"),
    path(f"{FRAMES}/rendered", views.rendered, name="dicomweb-frames-rendered"),
    path(f"{FRAMES}/thumbnail", views.thumbnail, name="dicomweb-frames-thumbnail"),
    path(f"{INSTANCE}/bulk/<path:attribute_path>", views.bulkdata, name="dicomweb-bulkdata"),
    *stow.urlpatterns,
]
