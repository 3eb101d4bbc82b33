"""The DICOMweb archive as a proxy to another DICOMweb server: the platform's own archive
(``IMAGE_MODE=archive``, ``DICOMWEB_ARCHIVE_URL``) or an external one (``IMAGE_MODE=upstream``,
``DICOMWEB_UPSTREAM``).

Authorization stays ours: the views check the index (own archive) or the cases (external
archive) before anything is asked, and searches ask only for the studies the user may see (by
UID, some at a time) and keep only those. The archive is asked by UID alone; every other matching
key is matched here on its answers (:mod:`.query`), so that matching is the same in every image
mode. URIs in the answers (BulkDataURI, RetrieveURL) are rewritten to point at this service.

What the own archive holds went through our ingest, de-identified. What an external archive
holds did not: there every answer is released only as far as :mod:`mrmc.dicom.release`
allows, headers if the instance is marked de-identified, pixels if no text is burned into
them either; anything else is refused with the rule's reason class (403) and logged.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import requests
from dicomweb_client.api import DICOMwebClient
from django.core.cache import cache

from mrmc.dicom.frames import ENCAPSULATED_MEDIA_TYPES, NATIVE_MEDIA_TYPE, frame_content_type, multipart_related
from mrmc.dicom.parse import write_instance
from mrmc.dicom.release import RELEASE_ATTRIBUTES, release_refusal, release_values_of_dataset, release_values_of_json
from studies.errors import NotFound

from . import http
from .query import Matches, QidoQuery, open_levels, page_of, uid_list
from .target import LEVEL_ATTRIBUTES, ONLINE, Target, qido_result

log = logging.getLogger(__name__)

METADATA_SECONDS = 300
TRANSFER_SYNTAX_TAG = "00020010"
STUDY_UIDS_AT_ONCE = 50  # StudyInstanceUIDs in one search of the archive: a query of about 3.3 kB
PIXEL_DATA_TAG = "7FE00010"
TIMEOUT_S = 20  # dicomweb-client's


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
        self.session = session or requests.Session()
        self.client = DICOMwebClient(self.upstream_url, session=self.session, timeout=TIMEOUT_S)
        # A viewer waits on this request: fail fast (502) instead of backing off for half a minute.
        self.client.set_http_retry_params(retry=False)

    # ------------------------------------------------------------- QIDO-RS

    def search(self, level: str, target: Target | None, query: QidoQuery) -> Matches:
        """The ``level`` entities under ``target`` (every study the user may see when None) that match.

        Keys inside sequences are ignored, with a warning: an archive need not return sequences in its
        search results (Orthanc does not), so they cannot be matched here.
        """
        in_sequences = [condition for condition in query.conditions if len(condition.path) > 1]
        query = replace(query, conditions=tuple(c for c in query.conditions if c not in in_sequences))
        allowed = {target.study} if target else set(self.visible_study_uids(self.user))
        levels = open_levels(level, target.depth if target else 0)
        answers = (result for batch in self._searches(level, target, query, levels, allowed)
                   for result in sorted(batch, key=_position))
        page, more = page_of(self._released(answers), query,
                             lambda result: _uid(result) in allowed and query.matches(result))
        results = [self._rewrite(qido_result(result, levels, query, **_availability(level, result))) for result in page]
        ignored = ", ".join(".".join(condition.path) for condition in in_sequences)
        return Matches(results, more, (f"The image archive cannot match these keys; they were ignored: {ignored}",)
                       if in_sequences else ())

    def _searches(self, level: str, target: Target | None, query: QidoQuery, levels: tuple[str, ...],
                  allowed: set[str]) -> Iterator[list]:
        """The archive's answers, a search at a time, asked only as far as they are read."""
        filters, fields = query.uid_filters(), self._fields(query, levels)
        if target:
            yield self._search_upstream(level, target, filters, fields)
            return
        studies = sorted(allowed & set(uid_list(filters.get("StudyInstanceUID", ""))) if "StudyInstanceUID" in filters
                         else allowed)
        for start in range(0, len(studies), STUDY_UIDS_AT_ONCE):
            uids = ",".join(studies[start:start + STUDY_UIDS_AT_ONCE])
            yield self._search_upstream(level, None, {**filters, "StudyInstanceUID": uids}, fields)

    def _search_upstream(self, level: str, target: Target | None, filters: dict, fields: list[str]) -> list[dict]:
        study, series = (target.study, target.series) if target else (None, None)
        options = {"search_filters": filters, "fields": fields, "get_remaining": True}
        if level == "study":
            return self._call(self.client.search_for_studies, **options)
        if level == "series":
            return self._call(self.client.search_for_series, study, **options)
        return self._call(self.client.search_for_instances, study, series, **options)

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
        return http.body_of_bytes(http.DICOM_JSON, body)

    def frames(self, target: Target, numbers: list[int], ranges) -> http.Body:
        metadata = self._released_instance_metadata(target)
        syntax = (metadata.get(TRANSFER_SYNTAX_TAG, {}).get("Value") or [http.EXPLICIT_VR_LITTLE_ENDIAN])[0]
        stored_media_type = ENCAPSULATED_MEDIA_TYPES.get(syntax, NATIVE_MEDIA_TYPE)
        representation = http.frame_representation(ranges, syntax, stored_media_type)
        if representation not in (http.STORED, http.UNCOMPRESSED):
            raise http.NotAcceptable(f"frames of this archive are given as stored ({stored_media_type}; "
                                     f"transfer-syntax={syntax}) or uncompressed; transcoding into {representation} "
                                     "is offered for images the platform stores itself (IMAGE_MODE=local)")
        keep = representation == http.STORED
        if keep and stored_media_type != NATIVE_MEDIA_TYPE:
            media_types = ((stored_media_type, syntax),)
        else:  # an explicit media type: dicomweb-client's default is refused by Orthanc (400)
            media_types = ((NATIVE_MEDIA_TYPE, http.EXPLICIT_VR_LITTLE_ENDIAN),)
        frames = self._call(self.client.retrieve_instance_frames, *_uids(target), frame_numbers=numbers,
                            media_types=media_types)
        return _parts_in_memory(frames, frame_content_type(syntax, keep_encoding=keep))

    def rendered(self, target: Target, ranges, *, frames: list[int] | None, rendering: http.Rendering) -> http.Body:
        """As :meth:`.local.LocalArchive.rendered`, from the archive's rendered frames."""
        media_type = http.rendered_media_type(ranges)
        if target.instance:
            image = self._released_instance_metadata(target)
            images = [(image, number) for number in frames or [rendering.frame]]
        else:
            images = [(image, 1) for image in self._released_images(target)]
        for image, number in images:  # before the response starts
            _require_renderable(image, number)
        if target.instance and len(images) == 1:
            return http.body_of_bytes(media_type, self._rendered_frame(*images[0], media_type, rendering))
        parts = (self._rendered_frame(image, number, media_type, rendering) for image, number in images)
        chunks, content_type = multipart_related(parts, media_type)
        return http.Body(content_type, lambda: chunks)

    def thumbnail(self, target: Target, ranges, *, frame: int | None, rendering: http.Rendering) -> http.Body:
        """As :meth:`.local.LocalArchive.thumbnail`: the first instance with pixel data, rendered small."""
        media_type = http.rendered_media_type(ranges)
        first = self._released_images(target)[0]
        _require_renderable(first, frame or 1)
        return http.body_of_bytes(media_type, self._rendered_frame(first, frame or 1, media_type,
                                                                   rendering.as_thumbnail()))

    def bulkdata(self, target: Target, attribute_path: str) -> http.Body:
        self._released_instance_metadata(target)
        url = f"{target.url(self.upstream_url)}/bulk/{attribute_path}"
        values = self._call(self.client.retrieve_bulkdata, url, media_types=(NATIVE_MEDIA_TYPE,))
        return _parts_in_memory(values, NATIVE_MEDIA_TYPE)

    def last_modified(self, target: Target) -> None:
        """Unknown: the archive's answers are not dated."""
        return None

    def _rendered_frame(self, image: dict, number: int, media_type: str, rendering: http.Rendering) -> bytes:
        """A frame rendered by the archive. Its viewport fitted to the image here (Orthanc stretches the
        image to the viewport), and the commas of the parameters as they are (dicomweb-client would
        escape them, which Orthanc does not read)."""
        rendering = rendering.fitted(_int(image, "00280011"), _int(image, "00280010"))
        query = "&".join(f"{name}={value}" for name, value in rendering.query().items())
        url = f"{_target_of(image).url(self.upstream_url)}/frames/{number}/rendered?{query}"
        response = self._call(self.session.get, url, headers={"Accept": media_type}, timeout=TIMEOUT_S)
        return response.content

    def _released_images(self, target: Target) -> list[dict]:
        """Metadata of the target's instances with pixel data, by series and instance number, once
        their pixels may be shown."""
        documents = self._metadata_documents(target)
        self._require_released(documents, pixels=True)
        images = sorted((d for d in documents if PIXEL_DATA_TAG in d), key=_position)
        if not images:
            raise NotFound("nothing here has pixel data")
        return images

    # ------------------------------------------------------------- release

    def _fields(self, query: QidoQuery, levels: tuple[str, ...]) -> list[str]:
        """The fields returned (the levels' attributes and those asked for, PS3.18 8.3.4.3 includefield),
        those matched here, the study's UID (whose the result is) and those the release rule reads."""
        defaults = [keyword for level in levels for keyword in LEVEL_ATTRIBUTES[level]]
        fields = [*defaults, *query.includefield, *query.returned_tags, "0020000D"]
        return [*fields, *RELEASE_ATTRIBUTES] if self.release_check else fields

    def _released(self, results: Iterable[dict]) -> Iterator[dict]:
        """Search results whose headers may be shown; the others are withheld (and logged)."""
        for result in results:
            refusal = release_refusal(release_values_of_json(result), pixels=False) if self.release_check else None
            if refusal is None:
                yield result
            else:
                _log_refusal(refusal.reason, "search result withheld")

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
        # Hashed: three UIDs and a URL can pass the 250 characters a cache key may have (memcached).
        name = "/".join((self.upstream_url, *_uids(target)))
        key = "dicomweb:upstream-metadata:" + hashlib.sha256(name.encode()).hexdigest()
        return cache.get_or_set(
            key, lambda: [self._call(self.client.retrieve_instance_metadata, *_uids(target))], METADATA_SECONDS
        )

    def _call(self, method, *args, **kwargs):
        try:
            result = method(*args, **kwargs)
            if isinstance(result, requests.Response):
                result.raise_for_status()
            return result
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


def _uid(result: dict, tag: str = "0020000D") -> str:
    return str((result.get(tag, {}).get("Value") or [""])[0])


def _availability(level: str, result: dict) -> dict:
    """Instance Availability (PS3.18 Tables 10.6.3-3, -5) where the archive leaves it out: what it
    serves, this service serves at once."""
    return {"InstanceAvailability": ONLINE} if level != "series" and "00080056" not in result else {}


def _require_renderable(image: dict, number: int) -> None:
    if PIXEL_DATA_TAG not in image:
        raise http.NotAcceptable(f"instance {_uid(image, '00080018')} has no pixel data to render")
    frames = _int(image, "00280008") or 1
    if not 1 <= number <= frames:
        raise NotFound(f"frame {number} not in 1..{frames}")


def _int(document: dict, tag: str) -> int | None:
    try:
        return int((document.get(tag, {}).get("Value") or [None])[0])
    except (TypeError, ValueError):
        return None


def _target_of(document: dict) -> Target:
    return Target(_uid(document), _uid(document, "0020000E"), _uid(document, "00080018"))


def _position(document: dict) -> tuple:
    """The order of results and images: study UID, series number and UID, instance number and SOP
    Instance UID (a number that is absent last)."""
    def number(tag: str) -> tuple:
        value = (document.get(tag, {}).get("Value") or [None])[0]
        return (value is None, value if isinstance(value, int | float) else 0)

    return (_uid(document), number("00200011"), _uid(document, "0020000E"), number("00200013"),
            _uid(document, "00080018"))


def _parts_in_memory(parts: list[bytes], part_type: str) -> http.Body:
    """A multipart/related body of parts already read, named (and bounded) by their hashes."""
    etag = http.etag_of(part_type, *(hashlib.sha256(part).hexdigest() for part in parts))
    chunks, content_type = multipart_related(parts, part_type, boundary=etag.strip('"'))
    return http.Body(content_type, lambda: chunks, etag)


def _uids(target: Target) -> tuple[str, str, str]:
    return target.study, target.series, target.instance

