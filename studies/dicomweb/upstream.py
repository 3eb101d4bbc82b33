"""The DICOMweb archive as a proxy to an external server (``settings.DICOMWEB_UPSTREAM``).

Authorization stays ours: the views check the case index before anything is asked
upstream, and study searches keep only the studies the user may see. URIs in upstream
answers (BulkDataURI, RetrieveURL) are rewritten to point at this service.
"""

import json

import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from django.core.cache import cache

from mrmc.dicom.frames import ENCAPSULATED_MEDIA_TYPES, NATIVE_MEDIA_TYPE, frame_content_type, multipart_related
from mrmc.dicom.parse import write_instance
from studies.errors import NotFound
from studies.permissions import case_study_uids_visible_to

from . import http
from .query import QidoQuery
from .target import Target

METADATA_SECONDS = 300
TRANSFER_SYNTAX_TAG = "00020010"


class UpstreamError(Exception):
    """The external server failed or could not be reached (502)."""


class UpstreamArchive:
    def __init__(self, user, base_url: str, upstream_url: str | None = None, session: requests.Session | None = None):
        self.user = user
        self.base_url = base_url
        self.upstream_url = (upstream_url or settings.DICOMWEB_UPSTREAM).rstrip("/")
        self.client = DICOMwebClient(self.upstream_url, session=session)
        # A viewer waits on this request: fail fast (502) instead of backing off for half a minute.
        self.client.set_http_retry_params(retry=False)

    # ------------------------------------------------------------- QIDO-RS

    def search_studies(self, query: QidoQuery) -> list[dict]:
        visible = set(case_study_uids_visible_to(self.user))
        found = self._call(self.client.search_for_studies, search_filters=query.filters,
                           fields=list(query.includefield) or None, get_remaining=True)
        return [self._rewrite(result) for result in query.page([r for r in found if _uid(r) in visible])]

    def search_series(self, target: Target, query: QidoQuery) -> list[dict]:
        found = self._call(self.client.search_for_series, target.study, search_filters=query.filters,
                           fields=list(query.includefield) or None, limit=query.limit, offset=query.offset)
        return [self._rewrite(result) for result in found]

    def search_instances(self, target: Target, query: QidoQuery) -> list[dict]:
        found = self._call(self.client.search_for_instances, target.study, target.series,
                           search_filters=query.filters, fields=list(query.includefield) or None,
                           limit=query.limit, offset=query.offset)
        return [self._rewrite(result) for result in found]

    # ------------------------------------------------------------- WADO-RS

    def retrieve(self, target: Target, ranges) -> http.Body:
        http.require_acceptable(ranges, "application/dicom")
        if target.instance:
            datasets = [self._call(self.client.retrieve_instance, *_uids(target))]
        elif target.series:  # streamed: one instance in memory at a time
            datasets = self._call(self.client.iter_series, target.study, target.series)
        else:
            datasets = self._call(self.client.iter_study, target.study)
        chunks, content_type = multipart_related(map(write_instance, datasets), "application/dicom")
        return http.Body(content_type, lambda: chunks)

    def metadata(self, target: Target, ranges) -> http.Body:
        http.require_acceptable(ranges, http.DICOM_JSON)
        if target.instance:
            documents = self._instance_metadata(target)
        elif target.series:
            documents = self._call(self.client.retrieve_series_metadata, target.study, target.series)
        else:
            documents = self._call(self.client.retrieve_study_metadata, target.study)
        body = json.dumps([self._rewrite(document) for document in documents]).encode()
        return http.Body(http.DICOM_JSON, lambda: [body])

    def frames(self, target: Target, numbers: list[int], ranges) -> http.Body:
        metadata = self._instance_metadata(target)[0]
        syntax = (metadata.get(TRANSFER_SYNTAX_TAG, {}).get("Value") or [http.EXPLICIT_VR_LITTLE_ENDIAN])[0]
        stored_media_type = ENCAPSULATED_MEDIA_TYPES.get(syntax, NATIVE_MEDIA_TYPE)
        keep = http.frame_representation(ranges, syntax, stored_media_type) == http.STORED
        if keep and stored_media_type != NATIVE_MEDIA_TYPE:
            media_types = ((stored_media_type, syntax),)
        else:  # an explicit media type: dicomweb-client's default is refused by Orthanc (400)
            media_types = ((NATIVE_MEDIA_TYPE, http.EXPLICIT_VR_LITTLE_ENDIAN),)
        frames = self._call(self.client.retrieve_instance_frames, *_uids(target), frame_numbers=numbers,
                            media_types=media_types)
        chunks, content_type = multipart_related(frames, frame_content_type(syntax, keep_encoding=keep))
        return http.Body(content_type, lambda: chunks)

    def rendered(self, target: Target, ranges, *, frame: int, window, viewport, quality) -> http.Body:
        media_type = http.rendered_media_type(ranges)
        params = {"quality": quality}
        if window:
            params["window"] = f"{window[0]},{window[1]},linear"
        if viewport:
            params["viewport"] = f"{viewport[0]},{viewport[1]}"
        if frame != 1:
            raise NotFound("only the first frame is rendered through the upstream archive")
        image = self._call(self.client.retrieve_instance_rendered, *_uids(target), media_types=(media_type,),
                           params=params)
        return http.Body(media_type, lambda: [image])

    def bulkdata(self, target: Target, attribute_path: str) -> http.Body:
        url = f"{target.url(self.upstream_url)}/bulk/{attribute_path}"
        values = self._call(self.client.retrieve_bulkdata, url, media_types=(NATIVE_MEDIA_TYPE,))
        chunks, content_type = multipart_related(values, NATIVE_MEDIA_TYPE)
        return http.Body(content_type, lambda: chunks)

    # ------------------------------------------------------------- helpers

    def _instance_metadata(self, target: Target) -> list[dict]:
        key = "dicomweb:upstream-metadata:" + "/".join((self.upstream_url, *_uids(target)))
        return cache.get_or_set(
            key, lambda: [self._call(self.client.retrieve_instance_metadata, *_uids(target))], METADATA_SECONDS
        )

    def _call(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                raise NotFound("no such study, series or instance") from None
            raise UpstreamError(f"the image archive answered {status}") from None
        except requests.RequestException as exc:
            raise UpstreamError(f"the image archive is unreachable: {type(exc).__name__}") from None

    def _rewrite(self, document: dict) -> dict:
        """Point upstream URIs at this service, so clients never talk to the archive directly."""
        for element in document.values():
            if "BulkDataURI" in element:
                element["BulkDataURI"] = self._local_uri(element["BulkDataURI"])
            elif element.get("vr") == "UR":
                element["Value"] = [self._local_uri(value) for value in element.get("Value", [])]
            elif element.get("vr") == "SQ":
                for item in element.get("Value", []):
                    self._rewrite(item)
        return document

    def _local_uri(self, uri: str) -> str:
        return self.base_url + uri[len(self.upstream_url):] if uri.startswith(self.upstream_url) else uri


def _uid(result: dict) -> str:
    return (result.get("0020000D", {}).get("Value") or [""])[0]


def _uids(target: Target) -> tuple[str, str, str]:
    return target.study, target.series, target.instance

