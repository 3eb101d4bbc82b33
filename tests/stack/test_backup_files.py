"""The backup folder without a stack: the local image store's and the model store's export and restore, and
the manifest's check that finds a file changed, missing or added (the database and Orthanc are in
test_local_stack.py)."""

import hashlib

import pytest

from deploy.backup import manifest
from deploy.backup.images import LocalImages
from deploy.backup.models import ModelFiles, ModelStoreError
from mrmc.dicom.storage import ContentStore

IMAGES = (b"DICM first image", b"DICM second image")
MODELS = {b"ONNX registered model": "Detector 1.0 of study 1", b"ONNX model of two studies": "Other 2 of study 1; "
          "Other 2 of study 2"}
UNREGISTERED = b"ONNX stored by a registration that failed"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
def model_store(local_store):
    """AI_MODEL_STORAGE at its default, DICOM_STORAGE/models: the registered files, and one no row names."""
    store = ContentStore(local_store / "models", suffix=".onnx")
    for data in (*MODELS, UNREGISTERED):
        store.put(data)
    return store.root


@pytest.fixture
def backup(tmp_path, local_store, model_store):
    folder = tmp_path / "backup"
    folder.mkdir()
    names = LocalImages(local_store).export(manifest.image_store(folder))
    registered = {sha256_of(data): label for data, label in MODELS.items()}
    ModelFiles(model_store).export(registered, manifest.model_store(folder))
    for name in (manifest.DATABASE_FILE, manifest.ANCHORS_FILE):
        (folder / name).write_bytes(f"content of {name}".encode())
    manifest.write(folder, {
        "images": {"count": len(names), "names_sha256": manifest.names_digest(names)},
        "models": registered,
        "files": {name: hashlib.sha256(f"content of {name}".encode()).hexdigest()
                  for name in (manifest.DATABASE_FILE, manifest.ANCHORS_FILE)},
    })
    return folder


def test_local_images_exports_stored_instances_only(backup):
    assert sorted(sha256 for sha256, _ in manifest.image_files(backup)) == sorted(map(sha256_of, IMAGES))


def test_exactly_the_registered_model_files_are_exported_as_stored(backup):
    files = dict(manifest.model_files(backup))
    assert sorted(files) == sorted(map(sha256_of, MODELS))
    assert {files[sha256_of(data)].read_bytes() for data in MODELS} == set(MODELS)
    assert [path.relative_to(backup).parts[:3] for path in files.values()] == [
        ("models", sha256[:2], sha256[2:4]) for sha256 in sorted(files)]


def test_a_registered_model_without_its_file_fails_the_backup_naming_it(tmp_path, model_store):
    lost = hashlib.sha256(b"ONNX lost from the store").hexdigest()
    with pytest.raises(ModelStoreError, match=rf"Lost 3 of study 7 \(sha256 {lost}\)"):
        ModelFiles(model_store).export({sha256_of(data): label for data, label in MODELS.items()}
                                       | {lost: "Lost 3 of study 7"}, ContentStore(tmp_path / "out", suffix=".onnx"))


def test_a_damaged_model_file_fails_the_backup_and_leaves_nothing(tmp_path, model_store):
    data = next(iter(MODELS))
    ContentStore(model_store, suffix=".onnx").path_for(sha256_of(data)).write_bytes(b"ONNX damaged in the store")
    into = tmp_path / "out"
    with pytest.raises(ModelStoreError, match="does not have the SHA-256 its name says"):
        ModelFiles(model_store).export({sha256_of(data): "Detector 1.0 of study 1"},
                                       ContentStore(into, suffix=".onnx"))
    assert [path for path in into.rglob("*") if path.is_file()] == []


def test_model_files_are_restored_byte_for_byte_where_the_platform_reads_them(tmp_path, backup):
    target = ModelFiles(tmp_path / "restored-models")
    for sha256, path in manifest.model_files(backup):
        target.store(path, sha256)
    assert target.count() == len(MODELS)
    for data in MODELS:
        sha256 = sha256_of(data)
        assert (tmp_path / "restored-models" / sha256[:2] / sha256[2:4] / f"{sha256}.onnx").read_bytes() == data


def test_local_images_restores_every_image_byte_for_byte(tmp_path, backup):
    target = LocalImages(tmp_path / "restored")
    for sha256, path in manifest.image_files(backup):
        target.store(path.read_bytes(), sha256)
    assert target.count() == len(IMAGES)
    assert {target.files.open(sha256_of(data)).read() for data in IMAGES} == set(IMAGES)


def test_an_intact_backup_passes_its_check(backup):
    checked = manifest.check(backup)
    assert checked["images"]["count"] == len(IMAGES)
    assert manifest.models_of(checked) == {sha256_of(data): label for data, label in MODELS.items()}


@pytest.mark.parametrize("damage", ["image changed", "image missing", "image added", "model changed",
                                    "model missing", "model added", "dump changed", "no manifest"])
def test_a_damaged_backup_is_refused(backup, damage):
    (_, image), *_ = manifest.image_files(backup)
    (_, model), *_ = manifest.model_files(backup)
    if damage == "image changed":
        image.write_bytes(b"DICM other bytes")
    elif damage == "image missing":
        image.unlink()
    elif damage == "image added":
        manifest.image_store(backup).put(b"DICM an image the backup did not hold")
    elif damage == "model changed":
        model.write_bytes(b"ONNX other bytes")
    elif damage == "model missing":
        model.unlink()
    elif damage == "model added":
        manifest.model_store(backup).put(UNREGISTERED)
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
