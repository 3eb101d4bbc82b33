"""Content-addressed storage: layout, idempotency, streaming reads."""

import hashlib

import pytest

from mrmc.dicom.storage import ContentStore


def test_put_is_idempotent_and_content_addressed(tmp_path):
    store = ContentStore(tmp_path / "store")
    data = b"DICM" * 1000
    first = store.put(data)
    second = store.put(data)
    digest = hashlib.sha256(data).hexdigest()
    assert first.created and not second.created
    assert first.sha256 == second.sha256 == digest
    assert first.path == tmp_path / "store" / digest[:2] / digest[2:4] / f"{digest}.dcm"
    assert first.path.read_bytes() == data
    assert [p.name for p in first.path.parent.iterdir()] == [f"{digest}.dcm"]  # no temp files left


def test_open_streams_the_stored_bytes(tmp_path):
    store = ContentStore(tmp_path)
    stored = store.put(b"abc" * 100_000)
    with store.open(stored.sha256) as fh:
        assert fh.read(3) == b"abc"
        assert len(fh.read()) == 299_997
    assert store.exists(stored.sha256)


def test_unknown_and_malformed_digests(tmp_path):
    store = ContentStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.open("0" * 64)
    with pytest.raises(ValueError):
        store.open("../../etc/passwd")
    assert not store.exists("f" * 64)


def test_the_writes_of_killed_writers_are_removed_and_others_kept(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    store = ContentStore(tmp_path / "store")
    folder = store.put(b"DICM").path.parent
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    host = socket.gethostname()
    abandoned = folder / f".incoming-{host}-{ended.pid}-abc_12"
    live = folder / f".incoming-{host}-{os.getpid()}-def_34"
    elsewhere = folder / f".incoming-other-host-{ended.pid}-ghi_56"
    for temp in (abandoned, live, elsewhere):
        temp.write_bytes(b"half")
    assert store.remove_abandoned_writes() == [abandoned.name]
    assert not abandoned.exists() and live.exists() and elsewhere.exists()
