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


def image_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """(sha256 its name claims, path) of every image of the backup, in name order."""
    for path in sorted((folder / IMAGES_FOLDER).glob("??/??/*.dcm")):
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


def check(folder: Path) -> dict:
    """The manifest, once every file it names has its SHA-256 and every image its name's; else BackupInvalid."""
    manifest = read(folder)
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise BackupInvalid(f"{name} is missing from the backup")
        if file_sha256(path) != expected:
            raise BackupInvalid(f"{name} differs from the manifest's SHA-256: changed or damaged")
    names = []
    for sha256, path in image_files(folder):
        if file_sha256(path) != sha256:
            raise BackupInvalid(f"image {path.relative_to(folder)} does not have the SHA-256 its name says")
        names.append(sha256)
    images = manifest["images"]
    if len(names) != images["count"] or names_digest(names) != images["names_sha256"]:
        raise BackupInvalid(f"the backup holds {len(names)} images, not the {images['count']} of the manifest "
                            "(or other ones)")
    return manifest
