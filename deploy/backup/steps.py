"""Backup and restore, step by step, in the order that keeps the stores consistent.

Backup: (1) the anchor file, (2) the database as of one snapshot, (3) the AI model files the dump
names, (4) the images.
- Anchors before the snapshot: an anchor is written after its event commits, so every anchor
  copied names an event the dump holds, and verification after a restore never finds the chain
  "truncated" before an anchor newer than the dump.
- Model files and images after the dump: registering stores a model's file before its row commits,
  ingest stores an instance before it indexes it, and nothing deletes from either store, so every
  file the dump names is there by the time it is copied (a missing one is an error naming it).
  Exactly the model files the dump's rows name are copied; instances stored later (or never
  indexed) come along too, harmless, as in the store.
The manifest is written last: a folder without one is a backup that did not finish.

Restore, into a deployment whose web, worker and beat processes are stopped (or not started yet):
check every file against the manifest; refuse an empty-looking target that is not (unless
forced), a DEID_KEY other than the one the images were de-identified with, and migrations this
release does not know; then the database (one transaction), the application role's grants, the
anchor file, the model files, the images (each read back); then check that the counts, the audit
head and the migrations are the manifest's, that every indexed image and every registered model's
file is back, and that ``verify_audit`` passes.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from . import manifest
from .database import Database, State, event_hashes, read_state
from .images import LocalImages, OrthancImages
from .models import ModelFiles

ROOT = Path(__file__).resolve().parents[2]
COUNTED = {"users": "User", "studies": "Study", "cases": "Case", "reads": "Read", "analysis_runs": "AnalysisRun",
           "jobs": "Job", "audit_events": "AuditEvent", "dicom_instances": "DicomInstance", "ai_models": "AIModel"}


class RestoreRefused(Exception):
    """The target is not one this backup may be restored into (as asked); the message says why."""


@dataclass(frozen=True)
class Target:
    """Where the platform keeps its state, from the application's own settings."""

    database: Database
    app_role: str
    anchor_file: Path
    image_mode: str
    images: OrthancImages | LocalImages | None  # None: upstream mode keeps no images
    models: ModelFiles  # in every image mode: a model may be registered in upstream mode too
    deid_key: str

    @classmethod
    def from_settings(cls, *, owner_url: str | None, orthanc_url: str | None, pg_bin: Path | None,
                      app_role: str | None) -> Target:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
        from django.conf import settings

        app_user = settings.DATABASES["default"]["USER"]
        owner_url = owner_url or os.environ["DATABASE_URL"]
        images = None
        if settings.IMAGE_MODE == "archive":
            images = OrthancImages(orthanc_url or settings.DICOMWEB_ARCHIVE_URL.rstrip("/").removesuffix("/dicom-web"))
        elif settings.IMAGE_MODE == "local":
            images = LocalImages(Path(settings.DICOM_STORAGE))
        return cls(database=Database(owner_url, pg_bin),
                   app_role=app_role or settings.DATABASE_APP_ROLE or app_user,
                   anchor_file=Path(settings.AUDIT_ANCHOR_FILE), image_mode=settings.IMAGE_MODE, images=images,
                   models=ModelFiles(Path(settings.AI_MODEL_STORAGE)), deid_key=settings.DEID_KEY)


class Steps:
    """Prints one line per step with the seconds since the start."""

    def __init__(self, say: Callable[[str], None]):
        self.say = say
        self.started = time.monotonic()

    def done(self, step: str, detail: str) -> None:
        self.say(f"{step:<10} {time.monotonic() - self.started:6.1f} s  {detail}")

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


# ------------------------------------------------------------------ backup

def backup(target: Target, folder: Path, say=print) -> dict:
    """Write a backup of ``target`` into ``folder`` (new or empty); returns the manifest."""
    steps = Steps(say)
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} is not empty: back up into a new folder")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # the images are de-identified, the reads and the audit trail are not public

    anchors = _copy_anchors(target.anchor_file, folder / manifest.ANCHORS_FILE)
    steps.done("anchors", f"{len(anchors)} anchors copied from {target.anchor_file}")

    with target.database.snapshot() as (connection, snapshot_id):
        state = _state(connection)
        anchored = event_hashes(connection, _table("AuditEvent"), [anchor["seq"] for anchor in anchors])
        target.database.dump(snapshot_id, folder / manifest.DATABASE_FILE)
    _check_anchors(anchors, anchored, state)
    steps.done("database", f"pg_dump of snapshot {snapshot_id}: {_counts(state.counts)}; audit head seq "
                           f"{state.audit_head['seq']}")

    models = target.models.export(state.model_files, manifest.model_store(folder))
    steps.done("models", f"{len(models)} model files from {target.models}, every one the database names")

    names = target.images.export(manifest.image_store(folder)) if target.images else set()
    if missing := state.instance_sha256 - names:
        raise RuntimeError(f"{len(missing)} images the index names are not in {target.images}, e.g. "
                           f"{sorted(missing)[:3]}: the store lost them; this backup is incomplete")
    steps.done("images", f"{len(names)} from {target.images or 'nowhere (upstream mode)'}; "
                         f"all {len(state.instance_sha256)} the index names")

    written = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "software": _software_version(),
        "image_mode": target.image_mode,
        "deid_key_fingerprint": manifest.deid_key_fingerprint(target.deid_key),
        **state.summary(),
        "anchors": {"count": len(anchors), "newest_seq": max((a["seq"] for a in anchors), default=0)},
        "images": {"count": len(names), "names_sha256": manifest.names_digest(names)},
        "models": state.model_files,
        "files": {name: manifest.file_sha256(folder / name) for name in (manifest.DATABASE_FILE,
                                                                          manifest.ANCHORS_FILE)},
    }
    manifest.write(folder, written)
    say(f"backup: {_counts(state.counts)}, {len(names)} images, {len(models)} model files, {len(anchors)} anchors "
        f"into {folder} in {steps.seconds:.1f} s")
    return written


def _copy_anchors(source: Path, into: Path) -> list[dict]:
    """Whole lines only: the writers hold an exclusive lock while they append one."""
    from studies.services.audit import read_anchors

    try:
        with source.open("rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH)
            content = handle.read()
    except FileNotFoundError:
        content = b""
    into.write_bytes(content)
    into.chmod(0o600)
    return read_anchors(content.decode().splitlines())


def _check_anchors(anchors: list[dict], anchored: dict[int, str], state: State) -> None:
    """Every anchor copied is of an event the dump holds, with its hash: the backup verifies as it is."""
    wrong = [anchor["seq"] for anchor in anchors if anchored.get(anchor["seq"]) != anchor["hash"]]
    if wrong:
        raise RuntimeError(f"anchors of seq {wrong[:5]} do not match the dumped chain (head seq "
                           f"{state.audit_head['seq']}): run manage.py verify_audit before backing up")


# ------------------------------------------------------------------ restore

def restore(target: Target, folder: Path, *, force: bool = False, new_deid_key: bool = False, say=print) -> State:
    """Restore the backup in ``folder`` into ``target`` and check it is all back; returns what is there now."""
    steps = Steps(say)
    saved = manifest.check(folder)
    steps.done("checked", f"every file of {folder} as its manifest says ({saved['images']['count']} images, "
                          f"made {saved['created_at']} by {saved['software']})")
    _refuse_incompatible(saved, target, new_deid_key=new_deid_key)
    if target.app_role == target.database.user:
        raise RestoreRefused(f"the application's role is the owner {target.app_role}: name the role the application "
                             "connects as (--app-role or DATABASE_APP_ROLE)")
    occupied = _occupied(target)
    if occupied and not force:
        raise RestoreRefused(f"the target is not empty ({'; '.join(occupied)}): restore into a new deployment, or "
                             "--force to replace its database and anchors (its images and model files are kept, "
                             "the backup's added)")

    target.database.restore(folder / manifest.DATABASE_FILE, clean=bool(occupied))
    _manage("grant_app_role", "--role", target.app_role, DATABASE_URL=target.database.url)
    steps.done("database", f"restored as the owner; {target.app_role} granted")

    _replace_anchors(folder / manifest.ANCHORS_FILE, target.anchor_file)
    steps.done("anchors", f"{saved['anchors']['count']} anchors into {target.anchor_file}")

    models = set()
    for sha256, path in manifest.model_files(folder):
        target.models.store(path, sha256)
        models.add(sha256)
    steps.done("models", f"{len(models)} model files into {target.models}")

    restored = set()
    for sha256, path in manifest.image_files(folder):  # none in upstream mode (the image modes match)
        target.images.store(path.read_bytes(), sha256)
        restored.add(sha256)
    steps.done("images", f"{len(restored)} into {target.images or 'nowhere (upstream mode)'}, each read back")

    with target.database.connect() as connection:
        state = _state(connection)
    _check_restored(saved, state, restored, models)
    audit = _manage("verify_audit").strip().splitlines()[-1]
    steps.done("verified", audit)
    say(f"restore: {_counts(state.counts)}, {len(restored)} images, {len(models)} model files, audit head seq "
        f"{state.audit_head['seq']} verified, in {steps.seconds:.1f} s")
    return state


def _refuse_incompatible(saved: dict, target: Target, *, new_deid_key: bool) -> None:
    from django.db.migrations.loader import MigrationLoader

    if saved["image_mode"] != target.image_mode:
        raise RestoreRefused(f"the backup's images are of IMAGE_MODE={saved['image_mode']}, the target's is "
                             f"{target.image_mode}")
    if saved["deid_key_fingerprint"] != manifest.deid_key_fingerprint(target.deid_key) and not new_deid_key:
        raise RestoreRefused("the target's DEID_KEY is not the one the backup's images were de-identified with: "
                             "set the backed-up key (images imported again would get other UIDs and date shifts), "
                             "or --new-deid-key to accept that")
    known = {f"{app}.{name}" for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations}
    if unknown := sorted(set(saved["migrations"]) - known):
        raise RestoreRefused(f"the backup's database has migrations this release lacks ({', '.join(unknown[:5])}): "
                             "restore with the release that made it, or a newer one")


def _occupied(target: Target) -> list[str]:
    """What the target already holds, each as a phrase; empty for a new deployment."""
    found = []
    if tables := target.database.tables():
        found.append(f"{tables} tables in the database")
    if target.anchor_file.exists() and target.anchor_file.stat().st_size:
        found.append(f"anchors in {target.anchor_file}")
    if target.images and (count := target.images.count()):
        found.append(f"{count} images in {target.images}")
    if count := target.models.count():
        found.append(f"{count} model files in {target.models}")
    return found


def _replace_anchors(source: Path, target: Path) -> None:
    """The backup's anchor file in place of the target's; a file there before is kept beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.stat().st_size:
        target.rename(target.with_name(f"{target.name}.replaced-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"))
    partial = target.with_name(f".{target.name}.restoring")
    partial.write_bytes(source.read_bytes())
    partial.replace(target)


def _check_restored(saved: dict, state: State, restored: set[str], models: set[str]) -> None:
    differences = [f"{name}: {state.counts.get(name)} restored, {count} backed up"
                   for name, count in saved["counts"].items() if state.counts.get(name) != count]
    if state.audit_head != saved["audit_head"]:
        differences.append(f"audit head {state.audit_head}, backed up {saved['audit_head']}")
    if state.migrations != saved["migrations"]:
        differences.append("the migrations applied differ from the backup's")
    if missing := state.instance_sha256 - restored:
        differences.append(f"{len(missing)} images the index names were not restored, e.g. {sorted(missing)[:3]}")
    if missing := sorted(set(state.model_files) - models):
        differences.append(f"{len(missing)} registered models have no file in the backup: "
                           + "; ".join(f"{state.model_files[sha256]} (sha256 {sha256})" for sha256 in missing[:5]))
    if differences:
        raise RuntimeError("restored, but not as backed up: " + "; ".join(differences))


# ------------------------------------------------------------------ shared

def _state(connection) -> State:
    return read_state(connection, {name: _table(model) for name, model in COUNTED.items()},
                      _table("AuditEvent"), _table("DicomInstance"), _table("AIModel"))


def _table(model: str) -> str:
    from django.apps import apps

    return apps.get_model("studies", model)._meta.db_table


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in counts.items())


def _software_version() -> str:
    from studies.services.analysis import software_version

    return software_version()


def _manage(*args: str, **env: str) -> str:
    """``manage.py ARGS`` with the application's environment (and ``env``); its output, or RuntimeError."""
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, **env})
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed ({result.returncode}): "
                           f"{(result.stdout + result.stderr).strip()[-3000:]}")
    return result.stdout
