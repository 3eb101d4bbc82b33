"""HTTP plumbing of the DICOMweb service: authentication, content negotiation, caching headers.

Responses carry ``Cache-Control: private`` always: what a user may retrieve depends on who
they are, so no shared cache may keep it. Content-addressed bodies are also ``immutable``.
"""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from rest_framework.exceptions import AuthenticationFailed

from studies.security import TokenAuthentication

DICOM_JSON = "application/dicom+json"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
_PARAMETER = re.compile(r';\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"]*)"|[^;,\s]*)')


class NotAcceptable(Exception):
    """No representation the client accepts can be produced (406, PS3.18 8.7.3.5)."""


class BadRequest(Exception):
    """A malformed query or parameter (400)."""


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header (PS3.18 8.7.3.5.2), parameters lower-cased by name."""

    media_type: str
    parameters: dict

    @property
    def part_type(self) -> str:
        """The ``type`` of a multipart/related range, or the range itself otherwise."""
        return self.parameters.get("type", "*/*") if self.media_type == "multipart/related" else self.media_type

    @property
    def transfer_syntax(self) -> str | None:
        return self.parameters.get("transfer-syntax")


def accepted(request) -> list[MediaRange]:
    """The Accept header as media ranges in the order given; none given accepts anything."""
    header = request.headers.get("Accept", "") or "*/*"
    ranges = []
    for entry in _split_accept(header):
        media_type, _, rest = entry.partition(";")
        parameters = {name.lower(): value.strip('"') for name, value in _PARAMETER.findall(";" + rest)}
        ranges.append(MediaRange(media_type.strip().lower(), parameters))
    return ranges


def _split_accept(header: str) -> list[str]:
    """Split on commas outside quoted parameter values."""
    entries, current, quoted = [], "", False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            entries.append(current)
            current = ""
        else:
            current += char
    return [entry.strip() for entry in [*entries, current] if entry.strip()]


def matches(pattern: str, media_type: str) -> bool:
    """Whether ``media_type`` falls under ``pattern`` (``*/*``, ``image/*`` or exact)."""
    if pattern in ("*", "*/*"):
        return True
    kind, _, sub = pattern.partition("/")
    return (sub == "*" and media_type.startswith(kind + "/")) or pattern == media_type


def authenticated_user(request):
    """The session user, else the user of an ``Authorization: Token ...`` header; None if neither."""
    if request.user.is_authenticated:
        return request.user
    try:
        result = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return result[0] if result else None


def unauthorized() -> JsonResponse:
    response = JsonResponse({"detail": "authentication required"}, status=401)
    response["WWW-Authenticate"] = 'Token realm="dicomweb"'
    return response


def error(status: int, detail: str, **fields) -> JsonResponse:
    return JsonResponse({"detail": detail, **fields}, status=status)


def etag_of(*parts: object) -> str:
    """A strong ETag from the identity of what the body is made of (content hashes, variant)."""
    return '"' + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:40] + '"'


@dataclass(frozen=True)
class Body:
    """A response body, produced only if the client does not already have it.

    ``etag`` names the exact bytes (or None when unknown, e.g. proxied); ``chunks`` makes them.
    """

    content_type: str
    chunks: Callable[[], Iterable[bytes]]
    etag: str | None = None
    immutable: bool = False


def respond(request, body: Body) -> HttpResponse:
    """200 with the body, or 304 when ``If-None-Match`` names its ETag (RFC 9110 13.1.2)."""
    if body.etag and body.etag in _if_none_match(request):
        response = HttpResponse(status=304)
    else:
        response = StreamingHttpResponse(body.chunks(), content_type=body.content_type)
    if body.etag:
        response["ETag"] = body.etag
    response["Cache-Control"] = IMMUTABLE if body.immutable and body.etag else REVALIDATE
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def _if_none_match(request) -> set[str]:
    header = request.headers.get("If-None-Match", "")
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


# -------------------------------------------------------------- negotiation


STORED = "stored"
UNCOMPRESSED = "uncompressed"


def frame_representation(ranges: list[MediaRange], stored_transfer_syntax: str, stored_media_type: str) -> str:
    """Which pixel data a frames request gets (PS3.18 8.7.3.5, Table 8.7.3-5).

    ``transfer-syntax=*`` or the stored syntax gives the frames as stored; an
    ``application/octet-stream`` range without a syntax, or with Explicit VR Little Endian,
    gives them uncompressed; ``*/*`` gives native frames uncompressed and compressed ones as
    stored. Anything else is :class:`NotAcceptable`.
    """
    for media_range in ranges:
        part_type, syntax = media_range.part_type, media_range.transfer_syntax
        # dicomweb-client and Orthanc spell "as stored" application/octet-stream; transfer-syntax=*
        if syntax in ("*", stored_transfer_syntax) and (
            matches(part_type, stored_media_type) or matches(part_type, "application/octet-stream")
        ):
            return STORED
        if matches(part_type, "application/octet-stream") and syntax in (None, EXPLICIT_VR_LITTLE_ENDIAN):
            if part_type in ("*", "*/*") and syntax is None and stored_media_type != "application/octet-stream":
                return STORED
            return UNCOMPRESSED
    raise NotAcceptable("frames are available as application/octet-stream (Explicit VR Little Endian) "
                        f"or as stored ({stored_media_type}; transfer-syntax={stored_transfer_syntax})")


def require_acceptable(ranges: list[MediaRange], media_type: str, stored_transfer_syntax: str | None = None) -> None:
    """Raise :class:`NotAcceptable` unless some range accepts ``media_type`` as it is stored."""
    for media_range in ranges:
        syntax_ok = media_range.transfer_syntax in (None, "*", stored_transfer_syntax)
        if matches(media_range.part_type, media_type) and (stored_transfer_syntax is None or syntax_ok):
            return
    raise NotAcceptable(f"this resource is available as {media_type}"
                        + (f" in transfer syntax {stored_transfer_syntax}" if stored_transfer_syntax else ""))


def rendered_media_type(ranges: list[MediaRange]) -> str:
    """image/jpeg (the default of PS3.18 8.7.4) or image/png, as the client prefers."""
    for media_range in ranges:
        for media_type in ("image/jpeg", "image/png"):
            if matches(media_range.media_type, media_type):
                return media_type
    raise NotAcceptable("rendered images are available as image/jpeg or image/png")
