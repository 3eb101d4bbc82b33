"""The DICOMweb archive over our own index and content store (PS3.18 10.4, 10.6).

Bodies are built lazily from the stored files, which are named by their SHA-256: an
instance's bytes never change, so its ETag is its hash and its responses are immutable.

Searches run in the index where it holds the matching key (UIDs, dates, numbers, IDs, modality,
descriptions) and on each candidate's metadata otherwise (names, times, sequences), always within
the studies the user may see now.
"""

import functools
import hashlib
import json
import re
from itertools import islice

import pydicom
from django.core.cache import cache
from django.db.models import Count, Max, Min, Q
from pydicom.uid import UID

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
from mrmc.dicom.transcode import (
    ENCODER_VERSION,
    OFFERED_SYNTAXES,
    CannotTranscode,
    check_encodable,
    encode_frame,
    with_encoded_frames,
)
from studies.errors import NotFound
from studies.models import DicomInstance, DicomSeries
from studies.permissions import dicom_studies_visible_to
from studies.services.frame_cache import cached_frame
from studies.services.ingest import content_store

from . import http
from .query import Condition, Matches, QidoQuery, open_levels, page_of
from .target import ONLINE, Target, bulk_element, qido_result

CANDIDATES_AT_ONCE = 200
MODALITIES_IN_STUDY = "00080061"


class LocalArchive:
    """Answers DICOMweb requests of ``user`` (already authorized for the study in a target)."""

    def __init__(self, user, base_url: str):
        self.user = user
        self.base_url = base_url

    # ------------------------------------------------------------- QIDO-RS

    def search(self, level: str, target: Target | None, query: QidoQuery) -> Matches:
        """The ``level`` entities under ``target`` (every study the user may see when None) that match."""
        if target and target.series and not DicomSeries.objects.filter(
            dicom_study__study_instance_uid=target.study, series_instance_uid=target.series
        ).exists():
            raise NotFound("no such series in this study")
        entities = self._searchable(level, target)
        in_index = {c: q for c in query.conditions if (q := _index_condition(level, c)) is not None}
        entities = entities.filter(*in_index.values())
        page, more = self._page(level, entities, [c for c in query.conditions if c not in in_index], query)
        documents = self._documents(level, page)
        levels = open_levels(level, target.depth if target else 0)
        return Matches([qido_result(documents[entity.pk], levels, query, **self._computed(level, entity))
                        for entity in page], more)

    def _searchable(self, level: str, target: Target | None):
        """The entities of ``level`` in the studies the user may see (under ``target``), in a stable order."""
        visible = dicom_studies_visible_to(self.user)
        if level == "study":
            return visible.annotate(
                n_series=Count("series", distinct=True), n_instances=Count("series__instances"),
                first_instance=Min("series__instances"),
            ).filter(first_instance__isnull=False).order_by("id")
        if level == "series":
            series = DicomSeries.objects.filter(dicom_study__in=visible).select_related("dicom_study")
            if target:
                series = series.filter(dicom_study__study_instance_uid=target.study)
            return series.annotate(n_instances=Count("instances"), first_instance=Min("instances")).filter(
                first_instance__isnull=False).order_by("dicom_study_id", "series_number", "id")
        instances = DicomInstance.objects.filter(series__dicom_study__in=visible)
        if target:
            instances = instances.filter(series__dicom_study__study_instance_uid=target.study)
        if target and target.series:
            instances = instances.filter(series__series_instance_uid=target.series)
        return instances.select_related("series__dicom_study").order_by(
            "series__dicom_study_id", "series__series_number", "series_id", "instance_number", "id")

    def _page(self, level: str, entities, conditions: list[Condition], query: QidoQuery) -> tuple[list, bool]:
        """The page asked for of the entities that also meet ``conditions``, and whether more follow."""
        if not conditions:
            window = list(entities[query.offset:query.offset + query.limit + 1])  # paged by the database
            return window[:query.limit], len(window) > query.limit
        page, more = page_of(self._with_documents(level, entities), query,
                             lambda pair: all(condition.matches(pair[1]) for condition in conditions))
        return [entity for entity, _ in page], more

    def _with_documents(self, level: str, entities):
        """(entity, what its conditions are matched on) pairs: its metadata and the study's
        ModalitiesInStudy, read a few hundred entities at a time."""
        candidates = entities.iterator(chunk_size=CANDIDATES_AT_ONCE)
        while chunk := list(islice(candidates, CANDIDATES_AT_ONCE)):
            documents = self._documents(level, chunk)
            yield from ((entity, _with_modalities(documents[entity.pk], _study_of(level, entity)))
                        for entity in chunk)

    def _documents(self, level: str, entities) -> dict[int, dict]:
        """Each entity's metadata: an instance's own, a series' or study's from one of its instances."""
        if level == "instance":
            return {entity.pk: self._metadata(entity, Target.of_instance(entity)) for entity in entities}
        representatives = self._representatives([entity.first_instance for entity in entities])
        return {entity.pk: representatives[entity.first_instance] for entity in entities}

    def _computed(self, level: str, entity) -> dict:
        """The attributes of a result that no instance holds (PS3.18 Tables 10.6.3-3 to -5)."""
        if level == "study":
            return {"ModalitiesInStudy": ("CS", entity.modalities.split("\\") if entity.modalities else []),
                    "NumberOfStudyRelatedSeries": ("IS", [entity.n_series]),
                    "NumberOfStudyRelatedInstances": ("IS", [entity.n_instances]),
                    "InstanceAvailability": ONLINE,
                    "RetrieveURL": ("UR", [Target(entity.study_instance_uid).url(self.base_url)])}
        if level == "series":
            target = Target(entity.dicom_study.study_instance_uid, entity.series_instance_uid)
            return {"NumberOfSeriesRelatedInstances": ("IS", [entity.n_instances]),
                    "RetrieveURL": ("UR", [target.url(self.base_url)])}
        return {"InstanceAvailability": ONLINE, "RetrieveURL": ("UR", [Target.of_instance(entity).url(self.base_url)])}

    # ------------------------------------------------------------- WADO-RS

    def retrieve(self, target: Target, ranges) -> http.Body:
        """Study, series or instance as ``multipart/related; type="application/dicom"`` (PS3.18 10.4.1)."""
        instances = list(self._instances(target).only("sha256", "transfer_syntax_uid", "number_of_frames",
                                                      "sop_instance_uid"))
        syntax = http.instance_representation(ranges, {instance.transfer_syntax_uid for instance in instances})
        store = content_store()
        shas = [instance.sha256 for instance in instances]
        if syntax == http.STORED:
            etag, part_type = http.etag_of("dicom", *shas), "application/dicom"
            parts = (store.open(instance.sha256) for instance in instances)  # opened one by one while streaming
        else:
            etag = http.etag_of("dicom", syntax, ENCODER_VERSION, *shas)
            part_type = f"application/dicom; transfer-syntax={syntax}"
            for instance in instances:  # refused before the body starts, not half-way through it
                if instance.transfer_syntax_uid != syntax:
                    self._require_encodable(instance, syntax, what=f"instance {instance.sop_instance_uid}")
            parts = (store.open(instance.sha256) if instance.transfer_syntax_uid == syntax
                     else self._transcoded_instance(instance, syntax) for instance in instances)
        chunks, content_type = multipart_related(parts, part_type, boundary=etag.strip('"'))
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
        if representation in OFFERED_SYNTAXES:
            part_type = frame_content_type(representation)
            etag = http.etag_of("frames", instance.sha256, representation, ENCODER_VERSION, *numbers)
            parts = self._transcoded_parts(instance, numbers, representation)
        else:
            part_type = frame_content_type(syntax, keep_encoding=representation == http.STORED)
            etag = http.etag_of("frames", instance.sha256, representation, *numbers)
            parts = self._frame_parts(instance, numbers, keep_encoding=representation == http.STORED)
        chunks, content_type = multipart_related(parts, part_type, boundary=etag.strip('"'))
        return http.Body(content_type, lambda: chunks, etag, immutable=True, last_modified=instance.created_at)

    def rendered(self, target: Target, ranges, *, frames: list[int] | None, rendering: http.Rendering) -> http.Body:
        """A rendered study, series, instance or frames (PS3.18 10.4.1.1.4, 8.3.5.1).

        One frame (an instance: its ``rendering.frame``) is one image. A study or series is a
        multipart/related of one image per instance (every one stored here is an image), its first
        frame; several frames, one image per frame.
        """
        media_type = http.rendered_media_type(ranges)
        if target.instance:
            instance = self._instances(target).get()
            images = [(instance, number) for number in frames or [rendering.frame]]
        else:
            images = [(instance, 1) for instance in self._instances(target)]
        return self._rendered(images, media_type, rendering, one_image=len(images) == 1 and bool(target.instance),
                              immutable=bool(target.instance))

    def thumbnail(self, target: Target, ranges, *, frame: int | None, rendering: http.Rendering) -> http.Body:
        """A thumbnail (PS3.18 10.4.1.1.5, Supplement 203): the first frame of the first instance (series
        by number, instances by number), or of the frame asked for."""
        media_type = http.rendered_media_type(ranges)
        instance = self._instances(target).first()
        return self._rendered([(instance, frame or 1)], media_type, rendering.as_thumbnail(), one_image=True,
                              immutable=bool(target.instance))

    def _rendered(self, images: list[tuple[DicomInstance, int]], media_type: str, rendering: http.Rendering, *,
                  one_image: bool, immutable: bool) -> http.Body:
        for instance, number in images:
            _require_renderable(instance, number)
        etag = http.etag_of("rendered", media_type, rendering, *(f"{i.sha256}/{n}" for i, n in images))
        fmt = media_type.split("/")[1]
        center, width = rendering.window or (None, None)

        def image(instance: DicomInstance, number: int) -> bytes:
            return render(self._dataset(instance), number, window_center=center, window_width=width,
                          viewport=rendering.viewport, fmt=fmt, quality=rendering.quality)

        if one_image:
            return http.Body(media_type, lambda: [image(*images[0])], etag, immutable=immutable)
        chunks, content_type = multipart_related((image(*item) for item in images), media_type,
                                                 boundary=etag.strip('"'))
        return http.Body(content_type, lambda: chunks, etag, immutable=immutable)

    def bulkdata(self, target: Target, attribute_path: str) -> http.Body:
        """The value of one bulk data attribute of an instance (PS3.18 8.6.1.3.2 BulkDataURI)."""
        instance = self._instances(target).get()
        value = bulk_element(self._dataset(instance), attribute_path).value
        boundary = http.etag_of("bulk", instance.sha256, attribute_path.upper()).strip('"')
        chunks, content_type = multipart_related([value], NATIVE_MEDIA_TYPE, boundary)
        return http.Body(content_type, lambda: chunks, f'"{boundary}"', immutable=True,
                         last_modified=instance.created_at)

    def last_modified(self, target: Target):
        """When the last of the target's instances was stored: they never change once stored."""
        return self._instances(target, required=False).aggregate(latest=Max("created_at"))["latest"]

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

    def _transcoded_parts(self, instance: DicomInstance, numbers: list[int], syntax: str) -> list[bytes]:
        """The frames encoded losslessly in ``syntax``, each once (the frame cache keeps it by content hash).

        Encoded before the response starts: a frame that cannot be encoded is a 406, not a broken body.
        The file is read only when a frame is not in the cache.
        """
        self._require_encodable(instance, syntax, what="frames")
        return self._encoded_frames(instance, numbers, syntax, functools.cache(lambda: self._dataset(instance)))

    @staticmethod
    def _encoded_frames(instance: DicomInstance, numbers, syntax: str, dataset) -> list[bytes]:
        """The frames in ``syntax`` from the frame cache, encoded from ``dataset()`` where not there yet."""
        try:
            return [cached_frame(instance_sha256=instance.sha256, number=number, transfer_syntax=syntax,
                                 encode=lambda number=number: encode_frame(dataset(), number, syntax))
                    for number in numbers]
        except CannotTranscode as exc:
            raise http.NotAcceptable(f"frames cannot be given as {syntax}: {exc}") from None

    @staticmethod
    def _require_encodable(instance: DicomInstance, syntax: str, *, what: str) -> None:
        header = pydicom.dcmread(content_store().path_for(instance.sha256), stop_before_pixels=True)
        try:
            check_encodable(header, UID(syntax))
        except CannotTranscode as exc:
            raise http.NotAcceptable(f"{what} cannot be given as {syntax}: {exc}") from None

    def _transcoded_instance(self, instance: DicomInstance, syntax: str) -> bytes:
        """The instance in ``syntax`` (the caller checked that it can be): its frames as the frames resource
        gives them (each encoded once), the file read once."""
        dataset = self._dataset(instance)
        frames = self._encoded_frames(instance, range(1, instance.number_of_frames + 1), syntax, lambda: dataset)
        return with_encoded_frames(dataset, syntax, frames)

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


def _study_of(level: str, entity):
    if level == "study":
        return entity
    return entity.dicom_study if level == "series" else entity.series.dicom_study


def _with_modalities(document: dict, dicom_study) -> dict:
    """An instance's metadata with its study's ModalitiesInStudy, which no instance holds."""
    modalities = dicom_study.modalities.split("\\") if dicom_study.modalities else []
    return {**document, MODALITIES_IN_STUDY: {"vr": "CS", "Value": modalities}}


def _require_renderable(instance: DicomInstance, number: int) -> None:
    if not 1 <= number <= instance.number_of_frames:
        raise NotFound(f"frame {number} not in 1..{instance.number_of_frames}")
    if not can_decode(instance.transfer_syntax_uid):
        raise http.NotAcceptable(f"instance {instance.sop_instance_uid} is stored as {instance.transfer_syntax_uid}, "
                                 "which cannot be decoded here to render it")


# -------------------------------------------------------------------- matching in the index

# Matching keys the index holds: keyword -> (level of the row, column). Their matching there is the
# matching of query.Condition: exact and case-sensitive, dates as text. Values with wildcards are
# matched on the metadata instead (query.wildcard_matches), never as a regular expression.
INDEXED = {
    "StudyInstanceUID": ("study", "study_instance_uid"), "PatientID": ("study", "patient_id"),
    "AccessionNumber": ("study", "accession_number"), "StudyDate": ("study", "study_date"),
    "StudyDescription": ("study", "study_description"), "ModalitiesInStudy": ("study", "modalities"),
    "SeriesInstanceUID": ("series", "series_instance_uid"), "Modality": ("series", "modality"),
    "SeriesNumber": ("series", "series_number"), "SeriesDescription": ("series", "series_description"),
    "SOPInstanceUID": ("instance", "sop_instance_uid"), "SOPClassUID": ("instance", "sop_class_uid"),
    "InstanceNumber": ("instance", "instance_number"),
}
# How a row of the first level reaches the row of the second.
RELATION = {("series", "study"): "dicom_study__", ("instance", "study"): "series__dicom_study__",
            ("instance", "series"): "series__"}


def _index_condition(level: str, condition: Condition) -> Q | None:
    """The condition as a filter on the ``level`` rows, or None where the index does not hold it."""
    if len(condition.path) > 1 or condition.keyword not in INDEXED or condition.wildcard:
        return None
    column_level, column = INDEXED[condition.keyword]
    field = RELATION.get((level, column_level), "") + column
    if condition.vr == "UI":
        return Q(**{f"{field}__in": condition.uids()})
    if condition.vr == "DA":
        low, high = condition.range()
        bounds = {**({f"{field}__gte": low} if low else {}), **({f"{field}__lte": high} if high else {})}
        return ~Q(**{field: ""}) & Q(**bounds)
    if condition.vr == "IS":
        return Q(**{field: condition.number()})
    if condition.keyword == "ModalitiesInStudy":  # one of the values in the column, backslash-separated
        return Q(**{f"{field}__regex": rf"(^|\\){re.escape(condition.value)}($|\\)"})  # no wildcards: no backtracking
    return Q(**{field: condition.value})
