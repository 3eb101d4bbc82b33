"""Request body parsers with limits: no request makes the server read or nest without bound.

DRF reads JSON and form bodies straight from the request stream, so Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (checked by ``request.body``) does not apply to them: these
parsers apply it. JSON nested deeper than ``JSON_MAX_DEPTH`` is refused before it is decoded,
so neither the decoder nor the serializers recurse on it. Every refusal is a ParseError (400).
"""

import io
import re
from itertools import accumulate

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# A JSON string, escapes included; its brackets do not nest anything.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_NESTING_STEP = [0] * 256
_NESTING_STEP[ord("[")] = _NESTING_STEP[ord("{")] = 1
_NESTING_STEP[ord("]")] = _NESTING_STEP[ord("}")] = -1


def read_body(stream) -> bytes:
    """The whole body, refused once it exceeds ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(body) > limit:
        raise ParseError(f"request body larger than {limit} bytes")
    return body


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", body))
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0)


class LimitedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        body = read_body(stream)
        limit = settings.JSON_MAX_DEPTH
        if json_depth(body) > limit:
            raise ParseError(f"JSON nested deeper than {limit} levels")
        return super().parse(io.BytesIO(body), media_type, parser_context)


class LimitedFormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(io.BytesIO(read_body(stream)), media_type, parser_context)
