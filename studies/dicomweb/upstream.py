"""The DICOMweb archive as a proxy to another DICOMweb server: the platform's own archive
(``IMAGE_MODE=archive``, ``DICOMWEB_ARCHIVE_URL``) or an external one (``IMAGE_MODE=upstream``,
``DICOMWEB_UPSTREAM``).

Authorization stays ours: the views check the index (own archive) or the cases (external
archive) before anything is asked, and study searches keep only the studies the user may see.
URIs in the answers (BulkDataURI, RetrieveURL) are rewritten to point at this service.

What the own archive holds went through our ingest, de-identified. What an external archive
holds did not: there every answer is released only as far as :mod:`mrmc.dicom.release`
allows, headers if the instance is marked de-identified, pixels if no text is burned into
them either; anything else is refused with the rule's reason class (403) and logged.
"""

import json
import logging
from collections.abc import Callable, Iterable, Iterator

import requests
from dicomweb_client.api import DICOMwebClient
from django.core.cache import cache

from mrmc.dicom.frames import ENCAPSULATED_MEDIA_TYPES, NATIVE_MEDIA_TYPE, frame_content_type, multipart_related
from mrmc.dicom.parse import write_instance
from mrmc.dicom.release import RELEASE_ATTRIBUTES, release_refusal, release_values_of_dataset, release_values_of_json
from studies.errors import NotFound

from . import http
from .query import QidoQuery
from .target import Target

log = logging.getLogger(__name__)

METADATA_SECONDS = 300
TRANSFER_SYNTAX_TAG = "00020010"


class UpstreamError(Exception):
    """The external server failed or could not be reached (502)."""


class NotReleased(Exception):
    """An instance the archive holds may not be shown (403): ``reason`` is the rule's reason class."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"refused: {message}")
        self.reason = reason


class UpstreamArchive:
    """Answers DICOMweb requests of ``user`` from the DICOMweb server at ``url``.

    ``visible_study_uids(user)`` gives the StudyInstanceUIDs the user may search;
    ``release_check`` makes every answer pass :func:`mrmc.dicom.release.release_refusal`.
    """

    def __init__(self, user, base_url: str, *, url: str, visible_study_uids: Callable[[object], Iterable[str]],
                 release_check: bool, session: requests.Session | None = None):
        self.user = user
        self.base_url = base_url
        self.upstream_url = url.rstrip("/")
        self.visible_study_uids = visible_study_uids
        self.release_check = release_check
        self.client = DICOMwebClient(self.upstream_url, session=session)
        # A viewer waits on this request: fail fast (502) instead of backing off for half a minute.
        self.client.set_http_retry_params(retry=False)

    # ------------------------------------------------------------- QIDO-RS

    def search_studies(self, query: QidoQuery) -> list[dict]:
        visible = set(self.visible_study_uids(self.user))
        found = self._call(self.client.search_for_studies, search_filters=query.filters,
                           fields=self._fields(query), get_remaining=True)
        found = self._released([result for result in found if _uid(result) in visible])
        return [self._rewrite(result) for result in query.page(found)]

    def search_series(self, target: Target, query: QidoQuery) -> list[dict]:
        found = self._call(self.client.search_for_series, target.study, search_filters=query.filters,
                           fields=self._fields(query), limit=query.limit, offset=query.offset)
        return [self._rewrite(result) for result in self._released(found)]

    def search_instances(self, target: Target, query: QidoQuery) -> list[dict]:
        found = self._call(self.client.search_for_instances, target.study, target.series,
                           search_filters=query.filters, fields=self._fields(query),
                           limit=query.limit, offset=query.offset)
        return [self._rewrite(result) for result in self._released(found)]

    # ------------------------------------------------------------- WADO-RS

    def retrieve(self, target: Target, ranges) -> http.Body:
        http.require_acceptable(ranges, "application/dicom")
        if self.release_check:  # refused before the response starts, not in the middle of it
            self._require_released(self._metadata_documents(target), pixels=True)
        if target.instance:
            datasets = [self._call(self.client.retrieve_instance, *_uids(target))]
        elif target.series:  # streamed: one instance in memory at a time
            datasets = self._call(self.client.iter_series, target.study, target.series)
        else:
            datasets = self._call(self.client.iter_study, target.study)
        chunks, content_type = multipart_related(map(write_instance, self._released_datasets(datasets)),
                                                 "application/dicom")
        return http.Body(content_type, lambda: chunks)

    def metadata(self, target: Target, ranges) -> http.Body:
        http.require_acceptable(ranges, http.DICOM_JSON)
        documents = self._metadata_documents(target)
        self._require_released(documents, pixels=False)
        body = json.dumps([self._rewrite(document) for document in documents]).encode()
        return http.Body(http.DICOM_JSON, lambda: [body])

    def frames(self, target: Target, numbers: list[int], ranges) -> http.Body:
        metadata = self._released_instance_metadata(target)
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
        self._released_instance_metadata(target)
        image = self._call(self.client.retrieve_instance_rendered, *_uids(target), media_types=(media_type,),
                           params=params)
        return http.Body(media_type, lambda: [image])

    def bulkdata(self, target: Target, attribute_path: str) -> http.Body:
        self._released_instance_metadata(target)
        url = f"{target.url(self.upstream_url)}/bulk/{attribute_path}"
        values = self._call(self.client.retrieve_bulkdata, url, media_types=(NATIVE_MEDIA_TYPE,))
        chunks, content_type = multipart_related(values, NATIVE_MEDIA_TYPE)
        return http.Body(content_type, lambda: chunks)

    # ------------------------------------------------------------- release

    def _fields(self, query: QidoQuery) -> list[str] | None:
        """The fields asked for, and those the release rule reads (PS3.18 8.3.4.3 includefield)."""
        if not self.release_check:
            return list(query.includefield) or None
        return [*query.includefield, *RELEASE_ATTRIBUTES]

    def _released(self, results: list[dict]) -> list[dict]:
        """Search results whose headers may be shown; the others are withheld (and logged)."""
        if not self.release_check:
            return results
        released = []
        for result in results:
            refusal = release_refusal(release_values_of_json(result), pixels=False)
            if refusal is None:
                released.append(result)
            else:
                _log_refusal(refusal.reason, "search result withheld")
        return released

    def _require_released(self, documents: list[dict], *, pixels: bool) -> None:
        for document in documents if self.release_check else ():
            _require(release_values_of_json(document), pixels=pixels)

    def _released_instance_metadata(self, target: Target) -> dict:
        """The instance's metadata, once its pixels may be shown."""
        documents = self._instance_metadata(target)
        self._require_released(documents, pixels=True)
        return documents[0]

    def _released_datasets(self, datasets: Iterable) -> Iterator:
        """Each instance checked again as it streams: one that changed since its metadata was read
        breaks the response off rather than go out."""
        for ds in datasets:
            if self.release_check:
                _require(release_values_of_dataset(ds), pixels=True)
            yield ds

    # ------------------------------------------------------------- helpers

    def _metadata_documents(self, target: Target) -> list[dict]:
        if target.instance:
            return self._instance_metadata(target)
        if target.series:
            return self._call(self.client.retrieve_series_metadata, target.study, target.series)
        return self._call(self.client.retrieve_study_metadata, target.study)

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


def _require(values: dict[str, str], *, pixels: bool) -> None:
    refusal = release_refusal(values, pixels=pixels)
    if refusal is not None:
        _log_refusal(refusal.reason, "refused")
        raise NotReleased(refusal.reason, refusal.message)


def _log_refusal(reason: str, what: str) -> None:
    """A warning for the operator: the reason class only, never the instance's values."""
    log.warning("external DICOMweb archive: %s, %s", what, reason, extra={"reason": reason})


def _uid(result: dict) -> str:
    return (result.get("0020000D", {}).get("Value") or [""])[0]


def _uids(target: Target) -> tuple[str, str, str]:
    return target.study, target.series, target.instance

