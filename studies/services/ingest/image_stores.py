"""Where ingest keeps the bytes of each instance, by ``settings.IMAGE_MODE``: the local content
store (``local``) or the platform's own DICOMweb archive, e.g. Orthanc (``archive``).

Both are an :class:`.store.ImageStore`: :func:`.store.store_instance` keeps the
bytes first and writes the index rows after, so a row only ever names an instance the store
holds. What a failure leaves is an instance the store holds and no row names: unreachable,
since every image request is authorized against the rows, and found again by the next import
of the same file (the same bytes are kept once). The archive is not asked to delete it:
DICOMweb has no delete, and the moment to undo is the moment the archive or the database is
failing. Upstream mode stores nothing: its images stay in the external archive.
"""

import requests
from dicomweb_client.api import DICOMwebClient
from django.conf import settings
from pydicom.dataset import Dataset

from mrmc.dicom.frames import multipart_related
from mrmc.dicom.parse import ParsedInstance, read_instance
from mrmc.dicom.storage import ContentStore
from studies.errors import DomainError, RuleViolation
from studies.models import DicomInstance

from .sources import Rejected
from .store import Conflict, ImageStore, content_store

TIMEOUT_S = (5, 300)  # connect; read: the archive writes a 64 MiB instance to its disk first
DICOM_JSON = "application/dicom+json"
# STOW-RS response (PS3.18 10.5.3): the instances stored and those refused, with a reason code.
REFERENCED_SOP_SEQUENCE, FAILED_SOP_SEQUENCE = "00081199", "00081198"
REFERENCED_SOP_INSTANCE_UID, FAILURE_REASON = "00081155", "00081197"
# Answers about the instance sent (refused, too large, wrong media type); any other failure is the archive's.
REFUSALS = frozenset({400, 409, 413, 415, 422})


class ImageArchiveUnavailable(DomainError):
    """The archive cannot store anything now: the import stops, and running it again is safe."""

    status_code = 503


def image_store() -> ImageStore:
    """The store of the configured image mode; upstream mode refuses to import."""
    if settings.IMAGE_MODE == "upstream":
        raise RuleViolation("images are served from the external archive (IMAGE_MODE=upstream), not imported; "
                            "link cases to its studies by StudyInstanceUID")
    if settings.IMAGE_MODE == "archive":
        return DicomwebArchiveStore(settings.DICOMWEB_ARCHIVE_URL, _SessionWithTimeout())
    return LocalImageStore(content_store())


class LocalImageStore:
    """Files named by their SHA-256 (:class:`mrmc.dicom.storage.ContentStore`)."""

    def __init__(self, files: ContentStore):
        self.files = files

    def put(self, data: bytes, stored: ParsedInstance) -> None:
        self.files.put(data)

    def dataset(self, instance: DicomInstance) -> Dataset:
        with self.files.open(instance.sha256) as handle:
            return read_instance(handle.read()).dataset


class DicomwebArchiveStore:
    """A DICOMweb archive that only the platform writes to: STOW-RS in, WADO-RS out (PS3.18 10.5, 10.4)."""

    def __init__(self, url: str, session: requests.Session):
        self.url = url.rstrip("/")
        self.session = session
        self.client = DICOMwebClient(self.url, session=session)
        self.client.set_http_retry_params(retry=False)  # an outage stops the import at once

    def put(self, data: bytes, stored: ParsedInstance) -> None:
        """Store ``data`` unless the archive holds that instance already.

        Archives keep the first of two instances with one SOP Instance UID and still answer
        success (Orthanc does), so an instance left by an interrupted import is compared
        first: the same data set is kept as it is, another is a conflict the operator resolves.
        """
        kept = self._retrieve(stored.study_instance_uid, stored.series_instance_uid, stored.sop_instance_uid)
        if kept is not None:
            if kept != stored.dataset:
                raise Conflict("conflict", f"the image archive holds SOP Instance UID {stored.sop_instance_uid} "
                                           "already, with other content (left by an interrupted import?); "
                                           "the archived instance is kept, remove it there to import this one")
            return
        chunks, content_type = multipart_related([data], "application/dicom")
        response = self._post(f"{self.url}/studies", data=chunks,
                              headers={"Content-Type": content_type, "Accept": DICOM_JSON})
        _check_stored(response, stored.sop_instance_uid)

    def dataset(self, instance: DicomInstance) -> Dataset:
        series = instance.series
        found = self._retrieve(series.dicom_study.study_instance_uid, series.series_instance_uid,
                               instance.sop_instance_uid)
        if found is None:
            raise FileNotFoundError(f"the image archive has no instance {instance.sop_instance_uid}")
        return found

    def _retrieve(self, study: str, series: str, instance: str) -> Dataset | None:
        """The instance as stored (``transfer-syntax=*``: not transcoded), or None when absent."""
        try:
            return self.client.retrieve_instance(study, series, instance, media_types=(("application/dicom", "*"),))
        except requests.HTTPError as exc:
            if exc.response is not None and exc.response.status_code == 404:
                return None
            raise ImageArchiveUnavailable(f"the image archive answered {getattr(exc.response, 'status_code', None)} "
                                          "to a retrieve") from None
        except requests.RequestException as exc:
            raise ImageArchiveUnavailable(f"the image archive is unreachable ({type(exc).__name__})") from None

    def _post(self, url: str, **kwargs) -> requests.Response:
        try:
            response = self.session.post(url, **kwargs)
        except requests.RequestException as exc:
            raise ImageArchiveUnavailable(f"the image archive is unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise ImageArchiveUnavailable(f"the image archive answered {response.status_code}")
        return response


class _SessionWithTimeout(requests.Session):
    """Every request of the DICOMweb client bounded too: a hung archive fails the import, never stalls it."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT_S)
        return super().request(*args, **kwargs)


def _check_stored(response: requests.Response, sop_instance_uid: str) -> None:
    """Refuse the file unless the STOW-RS response lists it as stored."""
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    failed = {_first(item, REFERENCED_SOP_INSTANCE_UID): _first(item, FAILURE_REASON)
              for item in (body.get(FAILED_SOP_SEQUENCE) or {}).get("Value", [])}
    stored = {_first(item, REFERENCED_SOP_INSTANCE_UID)
              for item in (body.get(REFERENCED_SOP_SEQUENCE) or {}).get("Value", [])}
    if response.status_code in REFUSALS or sop_instance_uid in failed:
        reason = failed.get(sop_instance_uid)
        raise Rejected("archive-refused", f"the image archive refused it (HTTP {response.status_code}"
                                          + (f", failure reason {reason:#06x})" if isinstance(reason, int) else ")"))
    if not response.ok or sop_instance_uid not in stored:
        raise ImageArchiveUnavailable(f"the image archive answered {response.status_code} "
                                      "without listing the instance as stored")


def _first(item: dict, tag: str):
    return ((item.get(tag) or {}).get("Value") or [None])[0]
