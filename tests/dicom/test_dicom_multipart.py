"""Reading multipart/related bodies (mrmc.dicom.multipart) part by part, within limits."""

import io
import tracemalloc

import pytest

from mrmc.dicom.multipart import BAD_HEADERS, TOO_LARGE, TRUNCATED, MalformedBody, read_parts

MiB = 1 << 20
PARTS = [b"first", b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 40, b"", b"last\r\n"]


def rfc_body(parts, boundary="b0und", preamble=b"", epilogue=b"", headers=b"Content-Type: application/dicom\r\n"):
    """RFC 2046 5.1.1: preamble, delimiter lines with transport padding, header fields, close delimiter, epilogue."""
    out = preamble
    for part in parts:
        out += f"\r\n--{boundary}  \r\n".encode() + headers + b"\r\n" + part
    return out + f"\r\n--{boundary}--\r\n".encode() + epilogue


def client_body(parts, boundary="b0und"):
    """As dicomweb-client writes a STOW-RS body: no preamble, no line break after the close delimiter."""
    from dicomweb_client.api import DICOMwebClient

    return DICOMwebClient._encode_multipart_message(parts, f'multipart/related; type="application/dicom"; '
                                                           f'boundary="{boundary}"')


def contents(data: bytes, *, limit: int = MiB, chunk: int = 1 << 16, boundary: str = "b0und"):
    return [part.take() if part.problem is None else (part.problem, part.size)
            for part in read_parts(io.BytesIO(data).read, boundary, max_part_bytes=limit, chunk_bytes=chunk)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 4096])
@pytest.mark.parametrize("make", [client_body, lambda parts: rfc_body(parts, preamble=b"ignored\r\n",
                                                                        epilogue=b"ignored too")])
def test_every_part_whole_at_any_chunk_size(make, chunk):
    assert contents(make(PARTS), chunk=chunk) == PARTS


def test_header_fields_by_lower_case_name():
    [part] = read_parts(io.BytesIO(rfc_body([b"x"], headers=b"Content-Type: application/dicom; transfer-syntax=1.2"
                                                         b"\r\nCONTENT-ID: <a>\r\n")).read, "b0und", max_part_bytes=9)
    assert part.headers == {"content-type": "application/dicom; transfer-syntax=1.2", "content-id": "<a>"}


def test_a_part_over_the_limit_is_skipped_and_reported_with_its_size():
    assert contents(rfc_body([b"a" * 100, b"b" * 101, b"c"]), limit=100, chunk=7) == [
        b"a" * 100, (TOO_LARGE, 101), b"c"]


def test_a_huge_part_costs_no_more_memory_than_the_limit():
    def body_chunks():
        yield b"--b0und\r\n\r\n"
        for _ in range(64):
            yield bytes(MiB)
        yield b"\r\n--b0und\r\n\r\nsmall\r\n--b0und--"

    chunks = body_chunks()
    tracemalloc.start()
    try:
        outcome = [(part.problem, part.size) for part in
                   read_parts(lambda size: next(chunks, b""), "b0und", max_part_bytes=MiB)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert outcome == [(TOO_LARGE, 64 * MiB), (None, 5)]
    assert peak < 8 * MiB


def test_a_body_cut_off_inside_a_part():
    body = b"--b0und\r\n\r\nwhole\r\n--b0und\r\nContent-Type: application/dicom\r\n\r\ncut off"
    assert contents(body, chunk=3) == [b"whole", (TRUNCATED, len(b"cut off"))]


def test_a_close_delimiter_without_its_dashes_ends_the_body():
    assert contents(b"--b0und\r\n\r\nonly\r\n--b0und\r\n") == [b"only"]


def test_a_client_that_goes_away_leaves_the_last_part_truncated():
    sent = iter([b"--b0und\r\n\r\npartial"])

    def read(size):
        chunk = next(sent, None)
        if chunk is None:
            raise ConnectionResetError("peer gone")
        return chunk

    [part] = read_parts(read, "b0und", max_part_bytes=MiB)
    assert (part.problem, part.size) == (TRUNCATED, len(b"partial"))


@pytest.mark.parametrize("headers", [b"no colon here\r\n", b"X-Long: " + b"x" * (17 << 10) + b"\r\n"])
def test_bad_part_headers_fail_that_part_alone(headers):
    body = rfc_body([b"bad"], headers=headers)[:-len("\r\n--b0und--\r\n")] + rfc_body([b"good"])
    assert [item if isinstance(item, bytes) else item[0] for item in contents(body)] == [BAD_HEADERS, b"good"]


def test_a_body_without_the_boundary_is_malformed():
    with pytest.raises(MalformedBody):
        contents(rfc_body([b"x"], boundary="other"))
    with pytest.raises(MalformedBody):
        read_parts(io.BytesIO(b"").read, "bad\r\nboundary", max_part_bytes=1)
    assert contents(b"--b0und--\r\n") == []


def test_the_content_is_handed_over_once():
    [part] = read_parts(io.BytesIO(client_body([b"x"])).read, "b0und", max_part_bytes=1)
    assert part.take() == b"x"
    with pytest.raises(ValueError):
        part.take()
