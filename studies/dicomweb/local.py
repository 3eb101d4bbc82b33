"""The DICOMweb archive over our own index and content store (PS3.18 10.4, 10.6).

Bodies are built lazily from the stored files, which are named by their SHA-256: an
instance's bytes never change, so its ETag is its hash and its responses are immutable.
"""

import hashlib
import json
import re

import pydicom
from django.core.cache import cache
from django.db.models import Count, Min, Q

from mrmc.dicom.dicomjson import to_dicom_json
from mrmc.dicom.frames import (
    ENCAPSULATED_MEDIA_TYPES,
    NATIVE_MEDIA_TYPE,
    can_decode,
    frame_content_type,
    get_frames,
    multipart_related,
    render,
)
from studies.errors import NotFound
from studies.models import DicomInstance, DicomSeries
from studies.permissions import dicom_studies_visible_to
from studies.services.ingest import content_store

from . import http
from .query import QidoQuery, date_range, uid_list
from .target import (
    INSTANCE_ATTRIBUTES,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
    Target,
    bulk_element,
    qido_result,
)


class LocalArchive:
    """Answers DICOMweb requests of ``user`` (already authorized for the study in a target)."""

    def __init__(self, user, base_url: str):
        self.user = user
        self.base_url = base_url

    # ------------------------------------------------------------- QIDO-RS

    def search_studies(self, query: QidoQuery) -> list[dict]:
        studies = _filter(dicom_studies_visible_to(self.user), query.filters, STUDY_FIELDS)
        studies = studies.annotate(
            n_series=Count("series", distinct=True), n_instances=Count("series__instances"),
            first_instance=Min("series__instances"),
        ).order_by("id")[query.offset:query.offset + query.limit]
        representatives = self._representatives([study.first_instance for study in studies])
        return [
            qido_result(
                representatives[study.first_instance], STUDY_ATTRIBUTES, query.includefield,
                ModalitiesInStudy=("CS", study.modalities.split("\\") if study.modalities else []),
                NumberOfStudyRelatedSeries=("IS", [study.n_series]),
                NumberOfStudyRelatedInstances=("IS", [study.n_instances]),
                RetrieveURL=("UR", [Target(study.study_instance_uid).url(self.base_url)]),
            )
            for study in studies
            if study.first_instance in representatives
        ]

    def search_series(self, target: Target, query: QidoQuery) -> list[dict]:
        series = _filter(
            DicomSeries.objects.filter(dicom_study__study_instance_uid=target.study), query.filters, SERIES_FIELDS
        )
        series = series.annotate(n_instances=Count("instances"), first_instance=Min("instances")).order_by(
            "series_number", "id"
        )[query.offset:query.offset + query.limit]
        representatives = self._representatives([item.first_instance for item in series])
        return [
            qido_result(
                representatives[item.first_instance], SERIES_ATTRIBUTES, query.includefield,
                NumberOfSeriesRelatedInstances=("IS", [item.n_instances]),
                RetrieveURL=("UR", [target.child(series=item.series_instance_uid).url(self.base_url)]),
            )
            for item in series
            if item.first_instance in representatives
        ]

    def search_instances(self, target: Target, query: QidoQuery) -> list[dict]:
        if not DicomSeries.objects.filter(
            dicom_study__study_instance_uid=target.study, series_instance_uid=target.series
        ).exists():
            raise NotFound("no such series in this study")
        instances = _filter(self._instances(target, required=False), query.filters, INSTANCE_FIELDS)
        instances = instances.order_by("instance_number", "id")[query.offset:query.offset + query.limit]
        results = []
        for instance in instances:
            instance_target = target.child(instance=instance.sop_instance_uid)
            results.append(qido_result(
                self._metadata(instance, instance_target), INSTANCE_ATTRIBUTES, query.includefield,
                RetrieveURL=("UR", [instance_target.url(self.base_url)]),
            ))
        return results

    # ------------------------------------------------------------- WADO-RS

    def retrieve(self, target: Target, ranges) -> http.Body:
        """Study, series or instance as ``multipart/related; type="application/dicom"`` (PS3.18 10.4.1)."""
        instances = list(self._instances(target).only("sha256", "transfer_syntax_uid"))
        for syntax in {instance.transfer_syntax_uid for instance in instances}:
            http.require_acceptable(ranges, "application/dicom", syntax)
        etag = http.etag_of("dicom", *(instance.sha256 for instance in instances))
        store = content_store()
        parts = (store.open(instance.sha256) for instance in instances)  # opened one by one while streaming
        chunks, content_type = multipart_related(parts, "application/dicom", boundary=etag.strip('"'))
        return http.Body(content_type, lambda: chunks, etag, immutable=target.instance is not None)

    def metadata(self, target: Target, ranges) -> http.Body:
        """DICOM JSON of every instance with BulkDataURIs (PS3.18 10.4.1.1.2)."""
        http.require_acceptable(ranges, http.DICOM_JSON)
        instances = list(self._instances(target).select_related("series__dicom_study"))
        etag = http.etag_of("metadata", self.base_url, *(instance.sha256 for instance in instances))

        def chunks():
            documents = [self._metadata(instance, Target.of_instance(instance)) for instance in instances]
            return [json.dumps(documents).encode()]

        return http.Body(http.DICOM_JSON, chunks, etag, immutable=target.instance is not None)

    def frames(self, target: Target, numbers: list[int], ranges) -> http.Body:
        """Frames of one instance (PS3.18 10.4.1.1.3), sliced from the file when stored natively."""
        instance = self._instances(target).get()
        syntax = instance.transfer_syntax_uid
        stored_media_type = ENCAPSULATED_MEDIA_TYPES.get(syntax, NATIVE_MEDIA_TYPE)
        representation = http.frame_representation(ranges, syntax, stored_media_type)
        if representation == http.UNCOMPRESSED and not can_decode(syntax):
            raise http.NotAcceptable(f"frames stored as {syntax} cannot be decoded here; ask for transfer-syntax=*")
        missing = [n for n in numbers if not 1 <= n <= instance.number_of_frames]
        if missing:
            raise NotFound(f"frame(s) {missing} not in 1..{instance.number_of_frames}")
        part_type = frame_content_type(syntax, keep_encoding=representation == http.STORED)
        etag = http.etag_of("frames", instance.sha256, representation, *numbers)
        parts = self._frame_parts(instance, numbers, keep_encoding=representation == http.STORED)
        chunks, content_type = multipart_related(parts, part_type, boundary=etag.strip('"'))
        return http.Body(content_type, lambda: chunks, etag, immutable=True)

    def rendered(self, target: Target, ranges, *, frame: int, window, viewport, quality) -> http.Body:
        """A frame as JPEG or PNG with the requested window (PS3.18 10.4.1.1.4, 8.3.5.1)."""
        media_type = http.rendered_media_type(ranges)
        instance = self._instances(target).get()
        if not 1 <= frame <= max(instance.number_of_frames, 1):
            raise NotFound(f"frame {frame} not in 1..{instance.number_of_frames}")
        etag = http.etag_of("rendered", instance.sha256, media_type, frame, window, viewport, quality)
        center, width = window or (None, None)

        def chunks():
            return [render(self._dataset(instance), frame, window_center=center, window_width=width,
                           viewport=viewport, fmt=media_type.split("/")[1], quality=quality)]

        return http.Body(media_type, chunks, etag, immutable=True)

    def bulkdata(self, target: Target, attribute_path: str) -> http.Body:
        """The value of one bulk data attribute of an instance (PS3.18 8.6.1.3.2 BulkDataURI)."""
        instance = self._instances(target).get()
        value = bulk_element(self._dataset(instance), attribute_path).value
        boundary = http.etag_of("bulk", instance.sha256, attribute_path.upper()).strip('"')
        chunks, content_type = multipart_related([value], NATIVE_MEDIA_TYPE, boundary)
        return http.Body(content_type, lambda: chunks, f'"{boundary}"', immutable=True)

    # ------------------------------------------------------------- helpers

    def _instances(self, target: Target, required: bool = True):
        instances = DicomInstance.objects.filter(series__dicom_study__study_instance_uid=target.study)
        if target.series:
            instances = instances.filter(series__series_instance_uid=target.series)
        if target.instance:
            instances = instances.filter(sop_instance_uid=target.instance)
        if required and not instances.exists():
            raise NotFound("no such study, series or instance")
        return instances.order_by("series__series_number", "series_id", "instance_number", "id")

    def _representatives(self, instance_ids) -> dict[int, dict]:
        instances = DicomInstance.objects.filter(pk__in=[i for i in instance_ids if i]).select_related(
            "series__dicom_study"
        )
        return {instance.pk: self._metadata(instance, Target.of_instance(instance)) for instance in instances}

    def _metadata(self, instance: DicomInstance, target: Target) -> dict:
        base_hash = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
        instance_url = target.url(self.base_url)

        def encode() -> dict:
            return to_dicom_json(self._dataset(instance), bulk_data_uri=lambda path: f"{instance_url}/bulk/{path}")

        return cache.get_or_set(f"dicomweb:metadata:{instance.sha256}:{base_hash}", encode, timeout=None)

    @staticmethod
    def _dataset(instance: DicomInstance):
        return pydicom.dcmread(content_store().path_for(instance.sha256))

    def _frame_parts(self, instance: DicomInstance, numbers: list[int], *, keep_encoding: bool):
        """Native frames straight from the file; others through pydicom (decoded unless kept)."""
        if instance.pixel_data_offset is None:
            yield from get_frames(self._dataset(instance), numbers, keep_encoding=keep_encoding)
            return
        path = content_store().path_for(instance.sha256)
        for number in numbers:
            start = instance.pixel_data_offset + (number - 1) * instance.frame_length
            yield _FileSlice(path, start, instance.frame_length)


class _FileSlice:
    """``length`` bytes of a file from ``start``, read in chunks by the multipart writer."""

    def __init__(self, path, start: int, length: int):
        self.handle = open(path, "rb")  # noqa: SIM115 - closed by the multipart writer
        self.handle.seek(start)
        self.left = length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


# -------------------------------------------------------------------- matching


def _text(field: str, value: str) -> Q:
    """Single value matching, with ``*`` and ``?`` wildcards (PS3.4 C.2.2.2.4)."""
    if "*" in value or "?" in value:
        pattern = "".join(".*" if c == "*" else "." if c == "?" else _escape(c) for c in value)
        return Q(**{f"{field}__regex": f"^{pattern}$"})
    return Q(**{field: value})


def _escape(char: str) -> str:
    return "\\" + char if char in r".^$+{}[]|()\\" else char


def _uids(field: str, value: str) -> Q:
    return Q(**{f"{field}__in": uid_list(value)})


def _date(field: str, value: str) -> Q:
    low, high = date_range(value)
    q = Q(**{f"{field}__gte": low}) if low else Q()
    return q & Q(**{f"{field}__lte": high}) if high else q


def _modality(field: str, value: str) -> Q:
    return Q(**{f"{field}__regex": rf"(^|\\){_escape_all(value)}($|\\)"})


def _escape_all(text: str) -> str:
    return "".join(_escape(c) for c in text)


def _number(field: str, value: str) -> Q:
    """IS matching: a value that is no 32-bit integer (PS3.5 6.2) matches nothing."""
    number = int(value) if re.fullmatch(r"-?[0-9]{1,10}", value) else None
    return Q(**{field: number}) if number is not None and -(2**31) <= number < 2**31 else Q(pk__in=[])


STUDY_FIELDS = {
    "StudyInstanceUID": ("study_instance_uid", _uids),
    "PatientID": ("patient_id", _text),
    "StudyDate": ("study_date", _date),
    "AccessionNumber": ("accession_number", _text),
    "ModalitiesInStudy": ("modalities", _modality),
}
SERIES_FIELDS = {
    "SeriesInstanceUID": ("series_instance_uid", _uids),
    "Modality": ("modality", _text),
    "SeriesNumber": ("series_number", _number),
}
INSTANCE_FIELDS = {
    "SOPInstanceUID": ("sop_instance_uid", _uids),
    "SOPClassUID": ("sop_class_uid", _uids),
    "InstanceNumber": ("instance_number", _number),
}


def _filter(queryset, filters: dict[str, str], fields: dict):
    for keyword, value in filters.items():
        field, match = fields[keyword]
        queryset = queryset.filter(match(field, value))
    return queryset

