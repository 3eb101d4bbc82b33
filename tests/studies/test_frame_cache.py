"""The frame cache: one encode per frame across calls and processes, whole files only, a bounded folder."""

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from mrmc.dicom.transcode import encode_frame
from studies.services import frame_cache as frame_cache_module
from studies.services.frame_cache import TEMP_PREFIX, FrameCache, cached_frame

SHA = "ab" + "0" * 62
OTHER_SHA = "cd" + "1" * 62
HTJ2K_RPCL = "1.2.840.10008.1.2.4.202"
JPEG_LS = "1.2.840.10008.1.2.4.80"


class CountingEncoder:
    """An ``encode`` callable that counts its calls."""

    def __init__(self, data: bytes = b"frame bytes"):
        self.data, self.calls = data, 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data


def refuse_to_encode() -> bytes:
    raise AssertionError("encoded although the frame was cached")


def payload(size: int = 4 << 20) -> bytes:
    return np.random.default_rng(7).bytes(size)


def files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_a_frame_is_encoded_once_and_then_read(tmp_path):
    cache, encoder = FrameCache(tmp_path, 1 << 30), CountingEncoder()
    first = cache.get_or_encode(SHA, 1, JPEG_LS, encoder)
    second = cache.get_or_encode(SHA, 1, JPEG_LS, refuse_to_encode)
    assert first == second == b"frame bytes" and encoder.calls == 1
    assert files_under(tmp_path) == [cache.path_for(SHA, 1, JPEG_LS)]


def test_every_part_of_the_key_makes_another_frame(tmp_path):
    cache, encoder = FrameCache(tmp_path, 1 << 30), CountingEncoder()
    for key in [(SHA, 1, JPEG_LS, "v1"), (SHA, 2, JPEG_LS, "v1"), (SHA, 1, HTJ2K_RPCL, "v1"),
                (OTHER_SHA, 1, JPEG_LS, "v1"), (SHA, 1, JPEG_LS, "v2")]:
        cache.get_or_encode(*key[:3], encoder, encoder_version=key[3])
    assert encoder.calls == 5 and len(files_under(tmp_path)) == 5


@pytest.mark.parametrize(("sha", "number", "syntax"), [
    ("../" + "a" * 61, 1, JPEG_LS), ("A" * 64, 1, JPEG_LS), (SHA, 0, JPEG_LS), (SHA, "1", JPEG_LS),
    (SHA, True, JPEG_LS), (SHA, 1, "../../x"), (SHA, 1, "1.2/3"), (SHA, 1, "1." * 40 + "1"),
])
def test_a_key_that_could_name_another_path_is_refused(tmp_path, sha, number, syntax):
    with pytest.raises(ValueError, match="not a"):
        FrameCache(tmp_path, 1 << 30).get_or_encode(sha, number, syntax, refuse_to_encode)
    assert files_under(tmp_path) == []


def test_a_failed_encode_stores_nothing(tmp_path):
    cache = FrameCache(tmp_path, 1 << 30)

    def failing():
        raise RuntimeError("codec said no")

    with pytest.raises(RuntimeError, match="codec said no"):
        cache.get_or_encode(SHA, 1, JPEG_LS, failing)
    assert files_under(tmp_path) == []
    assert cache.get_or_encode(SHA, 1, JPEG_LS, CountingEncoder(b"later")) == b"later"


def test_a_frame_that_cannot_be_stored_is_still_served_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    cache = FrameCache(tmp_path, 1 << 30)
    assert cache.get_or_encode(SHA, 1, JPEG_LS, CountingEncoder(b"served")) == b"served"
    assert files_under(tmp_path) == []


def test_another_process_reads_what_one_encoded(tmp_path):
    data = payload(1 << 16)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(encode_in_process, str(tmp_path), 0.0).result() == len(data)
    assert FrameCache(tmp_path, 1 << 30).get_or_encode(SHA, 1, HTJ2K_RPCL, refuse_to_encode) == payload(1 << 16)


def test_concurrent_writers_leave_one_whole_frame_and_readers_never_see_part_of_one(tmp_path):
    start = time.time() + 3  # the spawned processes need a moment to import
    path = FrameCache(tmp_path, 1 << 30).path_for(SHA, 1, HTJ2K_RPCL)
    expected, reads = payload(), 0
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        writers = [pool.submit(encode_in_process, str(tmp_path), start, 4 << 20) for _ in range(4)]
        while not all(writer.done() for writer in writers):
            try:
                seen = path.read_bytes()
            except FileNotFoundError:
                continue
            assert seen == expected
            reads += 1
        assert [writer.result() for writer in writers] == [4 << 20] * 4
    assert path.read_bytes() == expected
    assert files_under(tmp_path) == [path]  # no temporary file left behind
    assert reads > 0


def encode_in_process(root: str, start: float, size: int = 1 << 16) -> int:
    """In a spawned process: wait for ``start``, then get frame 1 through a cache of its own."""
    time.sleep(max(0.0, start - time.time()))
    return len(FrameCache(root, 1 << 30).get_or_encode(SHA, 1, HTJ2K_RPCL, lambda: payload(size)))


def test_the_sweep_removes_the_least_recently_used_frames_down_to_nine_tenths(tmp_path):
    writer, cache = FrameCache(tmp_path, 1 << 30), FrameCache(tmp_path, 1000)  # the writer never sweeps
    for number in range(1, 6):
        writer.get_or_encode(SHA, number, JPEG_LS, CountingEncoder(bytes(300)))
        os.utime(cache.path_for(SHA, number, JPEG_LS), (1_000_000 + number, 1_000_000 + number))
    assert cache.get_or_encode(SHA, 1, JPEG_LS, refuse_to_encode) == bytes(300)  # read: now the most recent
    assert cache.sweep() == 2 * 300  # 1500 bytes down to 900, nine tenths of 1000: frames 2 and 3 go
    assert files_under(tmp_path) == sorted(cache.path_for(SHA, number, JPEG_LS) for number in (1, 4, 5))


def test_a_cache_within_its_bound_is_left_alone(tmp_path):
    cache = FrameCache(tmp_path, 1000)
    for number in (1, 2, 3):
        cache.get_or_encode(SHA, number, JPEG_LS, CountingEncoder(bytes(300)))
    assert cache.sweep() == 0 and len(files_under(tmp_path)) == 3


def test_writes_keep_the_folder_within_its_bound(tmp_path):
    cache = FrameCache(tmp_path, 1600)  # a sweep after every 100 bytes written
    for number in range(1, 101):
        cache.get_or_encode(SHA, number, JPEG_LS, CountingEncoder(bytes(100)))
        assert sum(path.stat().st_size for path in files_under(tmp_path)) <= 1600
    assert cache.path_for(SHA, 100, JPEG_LS).exists()


def test_the_sweep_removes_temporary_files_of_dead_writers_only(tmp_path):
    cache = FrameCache(tmp_path, 1000)
    cache.get_or_encode(SHA, 1, JPEG_LS, CountingEncoder())
    folder = cache.path_for(SHA, 1, JPEG_LS).parent
    abandoned, in_progress = folder / f"{TEMP_PREFIX}dead", folder / f"{TEMP_PREFIX}live"
    abandoned.write_bytes(bytes(50))
    in_progress.write_bytes(bytes(50))
    os.utime(abandoned, (time.time() - 7200, time.time() - 7200))
    assert cache.sweep() == 50
    assert not abandoned.exists() and in_progress.exists()


def test_cached_frame_uses_the_configured_folder_and_serves_the_encoded_frame(tmp_path, settings):
    settings.FRAME_CACHE_DIR, settings.FRAME_CACHE_MAX_BYTES = tmp_path / "frames", 1 << 30
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    direct = encode_frame(ds, 1, HTJ2K_RPCL)
    encoder = CountingEncoder(direct)
    for _ in range(3):
        assert cached_frame(instance_sha256=SHA, number=1, transfer_syntax=HTJ2K_RPCL, encode=encoder) == direct
    assert encoder.calls == 1
    assert frame_cache_module.frame_cache().path_for(SHA, 1, HTJ2K_RPCL).is_relative_to(tmp_path / "frames")
