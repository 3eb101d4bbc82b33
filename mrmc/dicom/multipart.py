"""Reading a multipart/related body (RFC 2046 5.1.1, RFC 2387) one part at a time, within limits.

A STOW-RS request (PS3.18 10.5.1) carries one instance per part. The body is read in chunks
from a ``read(size)`` callable, so memory holds one chunk and at most one part of up to
``max_part_bytes``: a larger part is read past and reported, never kept. Only a body without
any part is refused as a whole; a part that breaks the rules (too large, headers too long,
cut off by the end of the body) is handed on with its problem, so that the parts around it
are still read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

READ_CHUNK = 1 << 20
MAX_HEADER_BYTES = 16 << 10
# RFC 2046 5.1.1: 1 to 70 characters of bchars, the last not a space.
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

TOO_LARGE, TRUNCATED, BAD_HEADERS = "too-large", "truncated", "bad-headers"


class MalformedBody(ValueError):
    """The body cannot be read as multipart/related with this boundary (no part at all)."""


class Part:
    """One body part: its header fields (names lower-cased), its size, and its content unless
    ``problem`` says why it was not kept (:data:`TOO_LARGE`, :data:`TRUNCATED`, :data:`BAD_HEADERS`)."""

    def __init__(self, headers: dict[str, str], content: bytes | None, size: int, problem: str | None):
        self.headers = headers
        self.size = size
        self.problem = problem
        self._content = content

    def take(self) -> bytes:
        """The content, handed over once: the part keeps no reference, so it is freed with its taker's."""
        content, self._content = self._content, None
        if content is None:
            raise ValueError("the content of this part was not kept or was taken already")
        return content


def read_parts(read: Callable[[int], bytes], boundary: str, *, max_part_bytes: int,
               chunk_bytes: int = READ_CHUNK) -> Iterator[Part]:
    """The parts of the body that ``read`` returns, in order, read lazily.

    Raises
    ------
    MalformedBody
        At once for a boundary RFC 2046 does not allow; when iterated, for a body in which the
        boundary never occurs.
    """
    if not BOUNDARY.fullmatch(boundary):
        raise MalformedBody("the boundary parameter is not a valid RFC 2046 boundary")
    return _parts(_Body(read, chunk_bytes), b"\r\n--" + boundary.encode("ascii"), max_part_bytes)


def _parts(body: _Body, delimiter: bytes, max_part_bytes: int) -> Iterator[Part]:
    if not body.skip_past(delimiter):
        raise MalformedBody("the body holds no part delimited by the boundary of its Content-Type")
    # After each delimiter: "--" closes the body (an epilogue may follow); so does the end of the
    # body, from a client that leaves the "--" out.
    while not body.starts_with(b"--") and not body.rest_is_blank():
        headers = _headers(body)
        content, size, closed = body.content_until(delimiter, max_part_bytes)
        if headers is None:
            problem = BAD_HEADERS
        elif content is None:
            problem = TOO_LARGE
        else:
            problem = None if closed else TRUNCATED
        part = Part(headers or {}, None if problem else content, size, problem)
        del content  # the part is the only holder, so that taking its content frees it with the taker's
        yield part
        if not closed:
            return


def _headers(body: _Body) -> dict[str, str] | None:
    """The header fields after a delimiter (its padding line first), or None when they break the rules."""
    block = body.text_until(b"\r\n\r\n", MAX_HEADER_BYTES)
    if block is None:
        return None
    _padding, *lines = block.split(b"\r\n")
    headers = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name.strip() or not name.isascii():
            return None
        headers[name.strip().decode("ascii").lower()] = value.strip().decode("latin-1")
    return headers


class _Body:
    """The unread rest of a body: a buffer of at most about one chunk, refilled on demand."""

    def __init__(self, read: Callable[[int], bytes], chunk_bytes: int):
        self._read = read
        self._chunk_bytes = chunk_bytes
        self._ended = False
        # A delimiter is CRLF "--" boundary; one that opens the body has no CRLF before it.
        self.buffer = bytearray(b"\r\n")

    def _fill(self) -> bool:
        if self._ended:
            return False
        try:
            data = self._read(self._chunk_bytes)
        except OSError:  # the client went away: what was read is all there is
            data = b""
        if not data:
            self._ended = True
            return False
        self.buffer += data
        return True

    def starts_with(self, prefix: bytes) -> bool:
        while len(self.buffer) < len(prefix) and self._fill():
            pass
        return self.buffer.startswith(prefix)

    def skip_past(self, marker: bytes) -> bool:
        """Drop everything up to and including ``marker``; False when the body ends first."""
        while True:
            found = self.buffer.find(marker)
            if found >= 0:
                del self.buffer[:found + len(marker)]
                return True
            del self.buffer[:max(0, len(self.buffer) - len(marker) + 1)]
            if not self._fill():
                return False

    def text_until(self, marker: bytes, limit: int) -> bytes | None:
        """The bytes before ``marker`` (both consumed) if ``marker`` comes within ``limit`` bytes, else None."""
        while True:
            found = self.buffer.find(marker)
            if 0 <= found <= limit:
                text = bytes(self.buffer[:found])
                del self.buffer[:found + len(marker)]
                return text
            if len(self.buffer) > limit + len(marker) or not self._fill():
                return None

    def rest_is_blank(self) -> bool:
        """Whether nothing but white space is left of the body (reads at most a header block's worth)."""
        while len(self.buffer) <= MAX_HEADER_BYTES and not self.buffer.strip() and self._fill():
            pass
        return self._ended and not self.buffer.strip()

    def content_until(self, delimiter: bytes, limit: int) -> tuple[bytes | None, int, bool]:
        """Read up to the next ``delimiter`` and past it: (the content, None once over ``limit``
        bytes; its size; False when the body ended before the delimiter)."""
        chunks: list[bytes] | None = []
        size = 0

        def keep(end: int) -> None:
            nonlocal chunks, size
            size += end
            if chunks is not None and size <= limit:
                chunks.append(bytes(self.buffer[:end]))
            else:
                chunks = None
            del self.buffer[:end]

        while True:
            found = self.buffer.find(delimiter)
            if found >= 0:
                keep(found)
                del self.buffer[:len(delimiter)]
                return (None if chunks is None else b"".join(chunks)), size, True
            keep(max(0, len(self.buffer) - len(delimiter) + 1))  # a delimiter may start in what is left
            if not self._fill():
                keep(len(self.buffer))
                return (None if chunks is None else b"".join(chunks)), size, False
