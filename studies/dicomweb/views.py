"""DICOMweb endpoints (PS3.18 10.4 WADO-RS, 10.6 QIDO-RS). Thin: authenticate, authorize, call the archive.

Every request needs a session or an ``Authorization: Token`` header (else 401), and every
route under a study checks :func:`studies.permissions.can_view_dicom_study` first: a study
the user may not see answers 404, exactly as one that does not exist. The searches that no
study scopes (/studies, /series, /instances) answer only from the studies the user may see.
Every request answered is recorded in the audit trail (who, which route, which UIDs).
"""

import math
from dataclasses import replace
from functools import wraps

from django.conf import settings
from django.views.decorators.http import require_safe

from studies.errors import NotFound
from studies.permissions import can_view_dicom_study, case_study_uids_visible_to, dicom_studies_visible_to
from studies.services import audit

from . import http
from .local import LocalArchive
from .query import open_levels, parse_query
from .target import Target
from .upstream import NotReleased, UpstreamArchive, UpstreamError

MAX_VIEWPORT = 4096


def archive_for(request, user):
    """The archive of ``settings.IMAGE_MODE`` (deploy/README.md, "Image modes")."""
    base_url = http.service_root(request)
    if settings.IMAGE_MODE == "archive":  # filled by our ingest: the index says what is there, and whose
        return UpstreamArchive(user, base_url, url=settings.DICOMWEB_ARCHIVE_URL,
                               visible_study_uids=_indexed_study_uids_visible_to, release_check=False)
    if settings.IMAGE_MODE == "upstream":  # filled by others: the cases say whose, the release rule what
        return UpstreamArchive(user, base_url, url=settings.DICOMWEB_UPSTREAM,
                               visible_study_uids=case_study_uids_visible_to, release_check=True)
    return LocalArchive(user, base_url)


def _indexed_study_uids_visible_to(user):
    return dicom_studies_visible_to(user).values_list("study_instance_uid", flat=True)


def dicomweb_endpoint(view):
    """Authentication, study authorization and the mapping of failures to status codes."""

    @require_safe
    @wraps(view)
    def wrapper(request, study=None, series=None, instance=None, **kwargs):
        user = http.authenticated_user(request)
        if user is None:
            return http.unauthorized()
        if study is not None and not can_view_dicom_study(user, study):
            return http.error(404, "no such study")
        target = Target(study, series, instance) if study else None
        archive = archive_for(request, user)
        try:
            result = view(request, archive, target, **kwargs)
            if isinstance(result, http.Body) and result.last_modified is None:
                result = replace(result, last_modified=archive.last_modified(target))
        except NotFound as exc:
            return http.error(404, str(exc))
        except http.NotAcceptable as exc:
            return http.error(406, str(exc))
        except http.BadRequest as exc:
            return http.error(400, str(exc))
        except UpstreamError as exc:
            return http.error(502, str(exc))
        except NotReleased as exc:
            return http.error(403, str(exc), reason=exc.reason)
        audit.record_image_access(actor=user, resource=view.__name__, study_uid=study,
                                  details={"series": series, "instance": instance, **kwargs})
        if isinstance(result, http.SearchResults):
            return http.search_response(result.results, result.warnings, archive.base_url)
        return http.respond(request, result)

    return wrapper


# ------------------------------------------------------------------ QIDO-RS (PS3.18 10.6)


@dicomweb_endpoint
def search_studies(request, archive, target):
    return _search(request, archive, "study", target)


@dicomweb_endpoint
def search_series(request, archive, target):
    """/series, or a study's /series."""
    return _search(request, archive, "series", target)


@dicomweb_endpoint
def search_instances(request, archive, target):
    """/instances, a study's /instances, or a series' /instances."""
    return _search(request, archive, "instance", target)


def _search(request, archive, level: str, target: Target | None) -> http.SearchResults:
    query = parse_query(request.GET, open_levels(level, target.depth if target else 0))
    matches = archive.search(level, target, query)
    return http.SearchResults(matches.results, (*query.warning_texts(more_results=matches.more), *matches.warnings))


# ------------------------------------------------------------------ WADO-RS (PS3.18 10.4)


@dicomweb_endpoint
def retrieve(request, archive, target):
    return archive.retrieve(target, http.accepted(request))


@dicomweb_endpoint
def metadata(request, archive, target):
    return archive.metadata(target, http.accepted(request))


@dicomweb_endpoint
def frames(request, archive, target, frame_list):
    numbers, ranges = _frame_numbers(frame_list), http.accepted(request)
    body = archive.frames(target, numbers, ranges)
    return replace(body, single_part=len(numbers) == 1 and http.wants_single_part(ranges))


@dicomweb_endpoint
def rendered(request, archive, target, frame_list=None):
    """A rendered study, series, instance (its ``frame``, 1 unless asked) or frames."""
    frames = _frame_numbers(frame_list) if frame_list else None
    return archive.rendered(target, http.accepted(request), frames=frames, rendering=_rendering(request))


@dicomweb_endpoint
def thumbnail(request, archive, target, frame_list=None):
    """A thumbnail of a study, series, instance or frame (the first listed)."""
    frame = _frame_numbers(frame_list)[0] if frame_list else None
    return archive.thumbnail(target, http.accepted(request), frame=frame, rendering=_rendering(request))


@dicomweb_endpoint
def bulkdata(request, archive, target, attribute_path):
    body = archive.bulkdata(target, attribute_path)
    return replace(body, single_part=http.wants_single_part(http.accepted(request)))


def _frame_numbers(frame_list: str) -> list[int]:
    """``{frames}``: comma-separated 1-based frame numbers (PS3.18 8.3.3.1 Table 8.3.3-1)."""
    return [_positive(item, "frame number") for item in frame_list.split(",")]


def _rendering(request) -> http.Rendering:
    """The rendering parameters (PS3.18 8.3.5.1); ``frame`` picks the frame of a rendered instance."""
    return http.Rendering(
        window=_window(request.GET.get("window", "")), viewport=_viewport(request.GET.get("viewport", "")),
        quality=min(_positive(request.GET.get("quality", "90"), "quality"), 100),
        frame=_positive(request.GET.get("frame", "1"), "frame"),
    )


def _positive(value: str, name: str) -> int:
    number = value.strip()
    if not (number.isascii() and number.isdigit() and len(number) <= 9) or int(number) < 1:
        raise http.BadRequest(f"{name} must be a positive integer of at most 9 digits, not {value[:20]!r}")
    return int(number)


def _window(value: str) -> tuple[float, float] | None:
    """``window=center,width,function`` (PS3.18 8.3.5.1.3); only the LINEAR function."""
    if not value:
        return None
    parts = value.split(",")
    try:
        center, width = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise http.BadRequest("window must be center,width[,linear]") from None
    linear = len(parts) < 3 or parts[2].strip().lower() in ("linear", "")
    if not (math.isfinite(center) and math.isfinite(width)) or width < 1 or not linear:
        raise http.BadRequest("window needs a finite center, a width of at least 1 and the linear function")
    return center, width


def _viewport(value: str) -> tuple[int, int] | None:
    """``viewport=vw,vh`` (PS3.18 8.3.5.1.2): the largest size of the rendered image."""
    if not value:
        return None
    sizes = value.split(",")[:2]
    if len(sizes) != 2:
        raise http.BadRequest("viewport must be width,height")
    width, height = (min(_positive(size, "viewport size"), MAX_VIEWPORT) for size in sizes)
    return width, height
