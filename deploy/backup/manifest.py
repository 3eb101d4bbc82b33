"""The backup folder's layout and its manifest: what was saved, and the check that it is all there, unchanged."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from mrmc.dicom.storage import SHA256_HEX, ContentStore

FORMAT = "mrmc-backup/1"
MANIFEST_FILE = "manifest.json"
DATABASE_FILE = "database.dump"
ANCHORS_FILE = "anchors.jsonl"
IMAGES_FOLDER = "images"
MODELS_FOLDER = "models"
MODEL_SUFFIX = ".onnx"  # as studies.services.precompute.model_store names them
CHUNK_BYTES = 1 << 20
DEID_FINGERPRINT_LABEL = b"mrmc backup: DEID_KEY fingerprint"


class BackupInvalid(Exception):
    """The backup folder is incomplete or changed since it was written; the message says what."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def deid_key_fingerprint(key: str) -> str:
    """Tells two DEID_KEYs apart without revealing either (an HMAC of a fixed text under the key)."""
    return hmac.new(key.encode(), DEID_FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def image_store(folder: Path) -> ContentStore:
    """The backup's images, laid out as the local image store: ``images/ab/cd/<sha256>.dcm``."""
    return ContentStore(folder / IMAGES_FOLDER)


def model_store(folder: Path) -> ContentStore:
    """The backup's AI model files, laid out as AI_MODEL_STORAGE: ``models/ab/cd/<sha256>.onnx``."""
    return ContentStore(folder / MODELS_FOLDER, suffix=MODEL_SUFFIX)


def image_files(folder: Path) -> Iterator[tuple[str, Path]]:
    return stored_files(image_store(folder))


def model_files(folder: Path) -> Iterator[tuple[str, Path]]:
    return stored_files(model_store(folder))


def stored_files(store: ContentStore) -> Iterator[tuple[str, Path]]:
    """(sha256 its name claims, path) of every file of a content store, in name order: not a file half
    written (``.incoming-*``), nor one in another folder (the uploads in ``incoming/``)."""
    for path in sorted(store.root.glob(f"??/??/*{store.suffix}")):
        if SHA256_HEX.fullmatch(path.stem):
            yield path.stem, path


def names_digest(names: Iterable[str]) -> str:
    """One hash of a set of image names: a file missing or added changes it."""
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()


def write(folder: Path, manifest: dict) -> None:
    path = folder / MANIFEST_FILE
    path.write_text(json.dumps({"format": FORMAT, **manifest}, indent=2, sort_keys=True) + "\n")
    path.chmod(0o600)


def read(folder: Path) -> dict:
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except FileNotFoundError:
        raise BackupInvalid(f"{folder} holds no {MANIFEST_FILE}: not a backup, or one that did not finish") from None
    if manifest.get("format") != FORMAT:
        raise BackupInvalid(f"{folder / MANIFEST_FILE} is of format {manifest.get('format')!r}, not {FORMAT}")
    return manifest


def models_of(manifest: dict) -> dict[str, str]:
    """The model files a backup holds, SHA-256 -> the models registered with it (none in a backup made before
    the platform kept models)."""
    return manifest.get("models", {})


def check(folder: Path) -> dict:
    """The manifest, once every file it names has its SHA-256, every image and model file its name's, and the
    images and model files are those it lists; else BackupInvalid."""
    manifest = read(folder)
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupInvalid(f"{name} is missing from the backup")
        if file_sha256(path) != expected:
            raise BackupInvalid(f"{name} differs from the manifest's SHA-256: changed or damaged")
    names = _checked_names(folder, image_files(folder))
    images = manifest["images"]
    if len(names) != images["count"] or names_digest(names) != images["names_sha256"]:
        raise BackupInvalid(f"the backup holds {len(names)} images, not the {images['count']} of the manifest "
                            "(or other ones)")
    models, listed = set(_checked_names(folder, model_files(folder))), set(models_of(manifest))
    if models != listed:
        raise BackupInvalid(f"the backup's model files are not the manifest's: missing {sorted(listed - models)}, "
                            f"not listed {sorted(models - listed)}")
    return manifest


def _checked_names(folder: Path, files: Iterator[tuple[str, Path]]) -> list[str]:
    names = []
    for sha256, path in files:
        if file_sha256(path) != sha256:
            raise BackupInvalid(f"{path.relative_to(folder)} does not have the SHA-256 its name says")
        names.append(sha256)
    return names
