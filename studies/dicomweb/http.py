"""HTTP plumbing of the DICOMweb service: authentication, the service's own URL, content negotiation,
conditional and range requests, caching headers.

Responses carry ``Cache-Control: private`` always: what a user may retrieve depends on who
they are, so no shared cache may keep it. Content-addressed bodies are also ``immutable``.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.request import split_domain_port
from django.urls import reverse
from django.utils.http import http_date, parse_http_date_safe
from rest_framework.exceptions import AuthenticationFailed

from mrmc.dicom.frames import ENCAPSULATED_MEDIA_TYPES, EXPLICIT_VR_LITTLE_ENDIAN
from mrmc.dicom.transcode import OFFERED_SYNTAXES
from studies.security import TokenAuthentication

DICOM_JSON = "application/dicom+json"
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


DEFAULT_PORTS = {"http": "80", "https": "443"}


def service_root(request) -> str:
    """The absolute URL of this DICOMweb service as the client reached it: scheme, host and port.

    Behind a proxy, ``X-Forwarded-Proto`` counts where ``SECURE_PROXY_SSL_HEADER`` names it,
    ``X-Forwarded-Host`` with ``USE_X_FORWARDED_HOST`` and ``X-Forwarded-Port`` with
    ``USE_X_FORWARDED_PORT``; otherwise the request's own ``Host``. A ``Host`` without a port
    (dicomweb-client sends one) means the port the request came in on, unless the request came
    through a proxy (``BEHIND_PROXY``), whose port that is not.
    """
    host = request.get_host()  # X-Forwarded-Host where configured; checked against ALLOWED_HOSTS
    _, port = split_domain_port(host)
    if not port:
        port = _arrival_port(request)
        if port and port != DEFAULT_PORTS.get(request.scheme):
            host = f"{host}:{port}"
    return f"{request.scheme}://{host}{reverse('dicomweb-studies').removesuffix('/studies')}"


def _arrival_port(request) -> str | None:
    forwarded = request.META.get("HTTP_X_FORWARDED_PORT", "").strip()
    if settings.USE_X_FORWARDED_PORT and forwarded:
        return forwarded if forwarded.isascii() and forwarded.isdigit() and len(forwarded) <= 5 else None
    if settings.BEHIND_PROXY:
        return None
    return request.META.get("SERVER_PORT")


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

    ``etag`` names the exact bytes (or None when unknown, e.g. streamed from another server);
    ``chunks`` makes them. ``single_part`` asks for the only part of this multipart/related body on
    its own (PS3.18 8.6: one item, a single part media type asked for), which takes byte ranges.
    """

    content_type: str
    chunks: Callable[[], Iterable[bytes]]
    etag: str | None = None
    immutable: bool = False
    last_modified: datetime | None = None
    single_part: bool = False


@dataclass(frozen=True)
class Rendering:
    """How to render (PS3.18 8.3.5.1): ``window`` (center, width) with the LINEAR function,
    ``viewport`` (largest width, height), JPEG ``quality``; ``frame`` of an instance."""

    window: tuple[float, float] | None = None
    viewport: tuple[int, int] | None = None
    quality: int = 90
    frame: int = 1

    def as_thumbnail(self) -> "Rendering":
        """A thumbnail is at most THUMBNAIL_SIZE pixels a side unless a viewport says otherwise."""
        return self if self.viewport else replace(self, viewport=(THUMBNAIL_SIZE, THUMBNAIL_SIZE))

    def fitted(self, columns: int | None, rows: int | None) -> "Rendering":
        """The viewport as the size of an image of ``columns`` x ``rows`` that fits it, keeping the
        aspect and never enlarging (what the viewport means here; another server may stretch)."""
        if not (self.viewport and columns and rows):
            return self
        scale = min(self.viewport[0] / columns, self.viewport[1] / rows, 1)
        return replace(self, viewport=(max(1, round(columns * scale)), max(1, round(rows * scale))))

    def query(self) -> dict[str, str]:
        """As the query parameters of a rendered resource of another server."""
        params = {"quality": str(self.quality)}
        if self.window:
            params["window"] = f"{self.window[0]},{self.window[1]},linear"
        if self.viewport:
            params["viewport"] = f"{self.viewport[0]},{self.viewport[1]}"
        return params


THUMBNAIL_SIZE = 128


def body_of_bytes(content_type: str, data: bytes) -> Body:
    """A body already in memory, named by its hash."""
    return Body(content_type, lambda: [data], etag_of("bytes", hashlib.sha256(data).hexdigest()))


def respond(request, body: Body) -> HttpResponse:
    """200 with the body; 304 when the client has it (``If-None-Match``, else ``If-Modified-Since``,
    RFC 9110 13.1.2-3); for a single part, 206 with the one byte range asked for or 416 when there
    is none such (RFC 9110 14)."""
    if body.single_part:
        body = replace(body, etag=body.etag and etag_of("single-part", body.etag))
    if _not_modified(request, body):
        response = HttpResponse(status=304)
    elif body.single_part:
        response = _single_part_response(request, body)
    else:
        response = StreamingHttpResponse(body.chunks(), content_type=body.content_type)
    if body.etag:
        response["ETag"] = body.etag
    if body.last_modified:
        response["Last-Modified"] = http_date(body.last_modified.timestamp())
    response["Cache-Control"] = IMMUTABLE if body.immutable and body.etag else REVALIDATE
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def _not_modified(request, body: Body) -> bool:
    if "If-None-Match" in request.headers:
        tags = _entity_tags(request.headers["If-None-Match"])
        return bool(body.etag) and (body.etag in tags or "*" in tags)
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and body.last_modified is not None and int(body.last_modified.timestamp()) <= since


def _entity_tags(header: str) -> set[str]:
    """The entity tags of a list, compared weakly (RFC 9110 13.1.2: If-None-Match uses weak comparison)."""
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


def _single_part_response(request, body: Body) -> HttpResponse:
    content_type, data = only_part(body)
    span = _byte_range(request, body, len(data))
    if span is None:
        response = HttpResponse(data, content_type=content_type)
    elif span == UNSATISFIABLE:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{len(data)}"
    else:
        first, last = span
        response = HttpResponse(data[first:last + 1], content_type=content_type, status=206)
        response["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    response["Accept-Ranges"] = "bytes"
    return response


UNSATISFIABLE = (-1, -1)
_RANGE = re.compile(r"bytes=\s*([0-9]{0,18})\s*-\s*([0-9]{0,18})\s*")


def _byte_range(request, body: Body, length: int) -> tuple[int, int] | None:
    """The one byte range asked for (RFC 9110 14.1.2), as first and last offset; None for the whole
    body: no Range, an If-Range that the body no longer matches, a syntax or several ranges that
    this service ignores (as RFC 9110 14.2 lets it)."""
    match = _RANGE.fullmatch(request.headers.get("Range", ""))
    if match is None or not _if_range_holds(request, body):
        return None
    first, last = match.groups()
    if not first and not last or first and last and int(last) < int(first):
        return None  # invalid: ignored
    if not first:  # a suffix: the last N bytes
        return (max(length - int(last), 0), length - 1) if int(last) > 0 and length else UNSATISFIABLE
    if int(first) >= length:
        return UNSATISFIABLE
    return int(first), min(int(last), length - 1) if last else length - 1


def _if_range_holds(request, body: Body) -> bool:
    """RFC 9110 13.1.5: the range is served only if the validator still names this body (strongly)."""
    validator = request.headers.get("If-Range", "").strip()
    if not validator:
        return True
    if validator.startswith(('"', "W/")):
        return validator == body.etag
    date = parse_http_date_safe(validator)
    return date is not None and body.last_modified is not None and int(body.last_modified.timestamp()) == date


def only_part(body: Body) -> tuple[str, bytes]:
    """The content type and bytes of the one part of a multipart/related body (RFC 2387), whole."""
    boundary = body.content_type.rsplit("boundary=", 1)[-1].strip('"')
    data = b"".join(body.chunks())
    opening, closing = f"--{boundary}\r\n".encode(), f"\r\n--{boundary}--\r\n".encode()
    head_end = data.index(b"\r\n\r\n")
    if not (data.startswith(opening) and data.endswith(closing)):
        raise ValueError("not a multipart/related body of this boundary")
    fields = (line.split(":", 1) for line in data[len(opening):head_end].decode("latin-1").split("\r\n"))
    content_type = next(value.strip() for name, value in fields if name.strip().lower() == "content-type")
    return content_type, data[head_end + 4:len(data) - len(closing)]


@dataclass(frozen=True)
class SearchResults:
    """What a QIDO-RS search answers: the results and the texts of its Warning header."""

    results: list[dict]
    warnings: tuple[str, ...] = ()


def wants_single_part(ranges: list[MediaRange]) -> bool:
    """Whether the client asks first for a single part media type (e.g. ``application/octet-stream``)
    rather than multipart/related or anything (PS3.18 8.6, Table 10.4.4-1: multipart is the default)."""
    return bool(ranges) and ranges[0].media_type not in ("multipart/related", "*", "*/*")


def search_response(results: list[dict], warnings: Iterable[str], service: str) -> HttpResponse:
    """QIDO-RS results, with a ``Warning: 299`` for each thing ignored or left out (PS3.18 8.3.4)."""
    response = HttpResponse(json.dumps(results), content_type=DICOM_JSON)
    if warnings:
        response["Warning"] = ", ".join(f'299 {service}: "{text}"' for text in warnings)
    response["Cache-Control"] = REVALIDATE
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


# -------------------------------------------------------------- negotiation


STORED = "stored"
UNCOMPRESSED = "uncompressed"
# What a compressed media type means without a transfer-syntax parameter: its default (D) syntax in
# PS3.18 Table 8.7.3-5 (dicomweb-client asks so for media_types=("image/jls",)).
DEFAULT_TRANSFER_SYNTAXES = {
    "image/jpeg": "1.2.840.10008.1.2.4.70", "image/dicom-rle": "1.2.840.10008.1.2.5",
    "image/jls": "1.2.840.10008.1.2.4.80", "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92", "image/jphc": "1.2.840.10008.1.2.4.201",
}


def frame_representation(ranges: list[MediaRange], stored_transfer_syntax: str, stored_media_type: str) -> str:
    """Which pixel data a frames request gets (PS3.18 8.7.3.5, Table 8.7.3-5): :data:`STORED`,
    :data:`UNCOMPRESSED`, or the UID of a lossless syntax the frames are transcoded into.

    ``transfer-syntax=*`` or the stored syntax gives the frames as stored; an
    ``application/octet-stream`` range without a syntax, or with Explicit VR Little Endian,
    gives them uncompressed; ``*/*`` gives native frames uncompressed and compressed ones as
    stored; a syntax of :data:`mrmc.dicom.transcode.OFFERED_SYNTAXES` with its media type (or
    ``*/*``) gives them transcoded. A compressed media type without a syntax stands for its default
    (:data:`DEFAULT_TRANSFER_SYNTAXES`). Ranges are taken in the client's order. Anything else is
    :class:`NotAcceptable`.
    """
    for media_range in ranges:
        part_type = media_range.part_type
        syntax = media_range.transfer_syntax or DEFAULT_TRANSFER_SYNTAXES.get(part_type)
        # dicomweb-client and Orthanc spell "as stored" application/octet-stream; transfer-syntax=*
        if syntax in ("*", stored_transfer_syntax) and (
            matches(part_type, stored_media_type) or matches(part_type, "application/octet-stream")
        ):
            return STORED
        if matches(part_type, "application/octet-stream") and syntax in (None, EXPLICIT_VR_LITTLE_ENDIAN):
            if part_type in ("*", "*/*") and syntax is None and stored_media_type != "application/octet-stream":
                return STORED
            return UNCOMPRESSED
        if syntax in OFFERED_SYNTAXES and matches(part_type, ENCAPSULATED_MEDIA_TYPES[syntax]):
            return syntax
    offered = ", ".join(f"{ENCAPSULATED_MEDIA_TYPES[uid]}; transfer-syntax={uid}" for uid in OFFERED_SYNTAXES)
    raise NotAcceptable("frames are available as application/octet-stream (Explicit VR Little Endian), "
                        f"as stored ({stored_media_type}; transfer-syntax={stored_transfer_syntax}), "
                        f"or transcoded losslessly: {offered}")


def instance_representation(ranges: list[MediaRange], stored_transfer_syntaxes: set[str]) -> str:
    """Which transfer syntax retrieved instances (``application/dicom``, PS3.18 8.7.3.5.2) come in:
    :data:`STORED`, or the UID of a lossless syntax of :data:`mrmc.dicom.transcode.OFFERED_SYNTAXES`
    they are transcoded into (an instance already in it is given as stored).

    ``transfer-syntax=*``, no syntax, or the one every instance is stored in give them as stored.
    Ranges are taken in the client's order. Anything else is :class:`NotAcceptable`.
    """
    for media_range in ranges:
        if not matches(media_range.part_type, "application/dicom"):
            continue
        syntax = media_range.transfer_syntax
        if syntax in (None, "*") or {syntax} == stored_transfer_syntaxes:
            return STORED
        if syntax in OFFERED_SYNTAXES:
            return syntax
    offered = ", ".join(OFFERED_SYNTAXES)
    raise NotAcceptable("instances are available as application/dicom, as stored (transfer-syntax=*) "
                        f"or transcoded losslessly into: {offered}")


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
