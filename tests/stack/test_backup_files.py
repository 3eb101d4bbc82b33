"""The backup folder without a stack: the local image store's export and restore, and the manifest's check
that finds a file changed, missing or added (the database and Orthanc are in test_local_stack.py)."""

import hashlib

import pytest

from deploy.backup import manifest
from deploy.backup.images import LocalImages
from mrmc.dicom.storage import ContentStore

IMAGES = (b"DICM first image", b"DICM second image")


@pytest.fixture
def local_store(tmp_path):
    root = tmp_path / "dicom"
    for data in IMAGES:
        ContentStore(root).put(data)
    staged = root / "incoming" / "4f2a" / "00001-upload.dcm"  # an upload waiting for its ingest job
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"DICM not ingested yet")
    (root / "ab").mkdir(exist_ok=True)
    (root / "ab" / ".incoming-x1y2").write_bytes(b"half written")
    return root


@pytest.fixture
def backup(tmp_path, local_store):
    folder = tmp_path / "backup"
    folder.mkdir()
    names = LocalImages(local_store).export(manifest.image_store(folder))
    for name in (manifest.DATABASE_FILE, manifest.ANCHORS_FILE):
        (folder / name).write_bytes(f"content of {name}".encode())
    manifest.write(folder, {
        "images": {"count": len(names), "names_sha256": manifest.names_digest(names)},
        "files": {name: hashlib.sha256(f"content of {name}".encode()).hexdigest()
                  for name in (manifest.DATABASE_FILE, manifest.ANCHORS_FILE)},
    })
    return folder


def test_local_images_exports_stored_instances_only(backup):
    assert sorted(sha256 for sha256, _ in manifest.image_files(backup)) == sorted(
        hashlib.sha256(data).hexdigest() for data in IMAGES)


def test_local_images_restores_every_image_byte_for_byte(tmp_path, backup):
    target = LocalImages(tmp_path / "restored")
    for sha256, path in manifest.image_files(backup):
        target.store(path.read_bytes(), sha256)
    assert target.count() == len(IMAGES)
    assert {target.files.open(hashlib.sha256(data).hexdigest()).read() for data in IMAGES} == set(IMAGES)


def test_an_intact_backup_passes_its_check(backup):
    assert manifest.check(backup)["images"]["count"] == len(IMAGES)


@pytest.mark.parametrize("damage", ["image changed", "image missing", "image added", "dump changed", "no manifest"])
def test_a_damaged_backup_is_refused(backup, damage):
    (_, image), *_ = manifest.image_files(backup)
    if damage == "image changed":
        image.write_bytes(b"DICM other bytes")
    elif damage == "image missing":
        image.unlink()
    elif damage == "image added":
        manifest.image_store(backup).put(b"DICM an image the backup did not hold")
    elif damage == "dump changed":
        (backup / manifest.DATABASE_FILE).write_bytes(b"another dump")
    else:
        (backup / manifest.MANIFEST_FILE).unlink()
    with pytest.raises(manifest.BackupInvalid):
        manifest.check(backup)


def test_the_deid_key_fingerprint_tells_keys_apart_without_showing_them():
    fingerprint = manifest.deid_key_fingerprint("the study key")
    assert fingerprint == manifest.deid_key_fingerprint("the study key")
    assert fingerprint != manifest.deid_key_fingerprint("another key")
    assert "the study key" not in fingerprint
