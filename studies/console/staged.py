"""Files previewed on the console, kept on the server until stored: "Store" names the file by the
SHA-256 the preview showed, and exactly those bytes are imported, or nothing.

A file lives under ``DICOM_STORAGE/console-staging`` (beside the uploads, so every web process that
shares the volume sees it) by its SHA-256; the user's session says which file each of their study's
previews showed. Files older than :data:`KEPT_S` go when Celery beat sweeps (:func:`sweep`, task
``studies.sweep_console_staging``) and when the next file is staged, so that a preview never stored does not
stay on the volume where no one previews again.
"""

import hashlib
import time
from pathlib import Path

from django.conf import settings

from mrmc.dicom.storage import write_atomically
from studies.errors import InvalidInput
from studies.models import Study

KEPT_S = 6 * 3600
SESSION_KEY = "console_staged"


def _root() -> Path:
    return Path(settings.DICOM_STORAGE) / "console-staging"


def _key(study: Study, kind: str) -> str:
    return f"{study.pk}:{kind}"


def stage(request, study: Study, kind: str, data: bytes, name: str) -> str:
    """Keep ``data`` for ``kind`` ("truth", "ai") of the study in this session; returns its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    sweep()
    write_atomically(_root() / digest, data, temp_prefix=".staging-")
    request.session[SESSION_KEY] = {**request.session.get(SESSION_KEY, {}),
                                    _key(study, kind): {"sha256": digest, "name": name}}
    return digest


def staged(request, study: Study, kind: str, digest: str) -> tuple[bytes, str]:
    """The bytes and name of the file this session previewed as ``digest``; refused if it is another
    file, gone, or not what was previewed."""
    entry = request.session.get(SESSION_KEY, {}).get(_key(study, kind))
    if entry is None or entry["sha256"] != digest:
        raise InvalidInput("this is not the file last previewed here: preview the file again")
    try:
        data = (_root() / digest).read_bytes()
    except FileNotFoundError:
        raise InvalidInput("the previewed file is no longer kept: preview it again") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise InvalidInput("the kept file is not the one previewed: preview it again")
    return data, entry["name"]


def discard(request, study: Study, kind: str) -> None:
    entries = request.session.get(SESSION_KEY, {})
    entry = entries.pop(_key(study, kind), None)
    request.session[SESSION_KEY] = entries
    if entry is not None:
        (_root() / entry["sha256"]).unlink(missing_ok=True)


def sweep() -> int:
    """Remove the kept files last written more than :data:`KEPT_S` ago (and temporary files a crash left); returns
    how many went."""
    root = _root()
    if not root.is_dir():
        return 0
    cutoff = time.time() - KEPT_S
    removed = 0
    for path in root.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another process swept it first
            continue
    return removed
