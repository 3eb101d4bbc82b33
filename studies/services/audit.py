"""The audit trail: who changed which study data, when, with the values before and after.

Model saves and deletes of study data are recorded by signal handlers (so changes made in
the admin or a shell are caught too); downloads, analysis runs and image retrievals call
:func:`record` themselves. The actor comes from the request (middleware) or from
:func:`context` in commands and tasks.

The events form a hash chain. Event ``seq`` stores ``prev_hash`` (the hash of event
``seq - 1``; 64 zeros for the first) and ``hash = sha256(canonical content)``, where the
canonical content is the JSON object of the fields in :data:`CHAIN_FIELDS` (``at`` in
UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``) with sorted keys, ``,``/``:`` separators, UTF-8
text, and every whole-valued float written as an integer (PostgreSQL's jsonb gives
``1e+16`` back as ``10000000000000000``). Appending takes a lock on the chain, held to
the end of the transaction: PostgreSQL a transaction-level advisory lock, SQLite its
write lock (every transaction starts IMMEDIATE). The head is anchored outside the
database (:func:`anchor_head`) so that removing the newest events is detected too.
"""

import contextlib
import contextvars
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.utils import timezone

GENESIS_HASH = "0" * 64
CHAIN_FIELDS = ("seq", "at", "actor_id", "actor_username", "study_id", "action", "entity", "entity_id",
                "before", "after", "request_id", "prev_hash")
CHAIN_LOCK_KEY = 0x6D726D63_61756474  # any constant shared by every process: "mrmcaudt"
anchor_log = logging.getLogger("mrmc.audit.anchor")


@dataclass(frozen=True)
class _Context:
    user_getter: Callable[[], object | None]
    request_id: str


_current: contextvars.ContextVar[_Context | None] = contextvars.ContextVar("audit_context", default=None)


@contextlib.contextmanager
def context(*, user=None, user_getter=None, request_id: str = ""):
    """Attribute the audit events written inside this block to ``user``."""
    token = _current.set(_Context(user_getter or (lambda: user), request_id))
    try:
        yield
    finally:
        _current.reset(token)


def current_actor():
    ctx = _current.get()
    user = ctx.user_getter() if ctx else None
    return user if getattr(user, "is_authenticated", False) else None


def json_safe(value):
    """``value`` as it comes back from a JSON column (dates as text, tuples as lists)."""
    return None if value is None else json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model) -> dict:
    """JSON-safe field values of a model instance (foreign keys as ids)."""
    return json_safe({field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields})


def study_id_of(instance: models.Model) -> int | None:
    from studies.models import Study

    if isinstance(instance, Study):
        return instance.pk
    return getattr(instance, "study_id", None) or _study_id_via(instance)


def _study_id_via(instance) -> int | None:
    for attr in ("assignment", "reader", "read", "case", "evaluation"):
        related = getattr(instance, attr, None)
        if related is not None and related is not instance:
            return study_id_of(related)
    return None


# ---------------------------------------------------------------- the chain

def canonical_json(value) -> bytes:
    return json.dumps(_whole_floats_as_ints(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def _whole_floats_as_ints(value):
    kind = type(value)  # exact types: JSON gives nothing else, and the verifier walks every value
    if kind is float:
        return int(value) if value.is_integer() else value
    if kind is dict:
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if kind is list:
        return [_whole_floats_as_ints(item) for item in value]
    return value


def chain_timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(fields: dict) -> str:
    """The hash of one event from its :data:`CHAIN_FIELDS` values (``at`` a datetime)."""
    content = {name: fields[name] for name in CHAIN_FIELDS}
    content["at"] = chain_timestamp(content["at"])
    return hashlib.sha256(canonical_json(content)).hexdigest()


def record(*, action: str, entity: str, entity_id, study_id=None, before=None, after=None, actor=None):
    """Append one event to the trail, in the caller's transaction when there is one."""
    return append_events([new_event(action=action, entity=entity, entity_id=entity_id, study_id=study_id,
                                    before=before, after=after, actor=actor)])[0]


def record_download(*, actor, study_id: int, filename: str, entity: str = "studies.Study", entity_id=None):
    """An export or report handed out (who took which data out of the platform)."""
    return record(action="download", entity=entity, entity_id=study_id if entity_id is None else entity_id,
                  study_id=study_id, actor=actor, after={"file": filename})


def record_image_access(*, actor, resource: str, study_uid: str | None, details: dict):
    """One DICOMweb request answered (a search, or images and metadata of the study ``study_uid``)."""
    from studies.models import Case, DicomStudy

    study_id = None
    if study_uid:
        study_id = (DicomStudy.objects.filter(study_instance_uid=study_uid).values_list("study_id", flat=True).first()
                    or Case.objects.filter(study_instance_uid=study_uid).values_list("study_id", flat=True).first())
    return record(action="dicomweb_" + resource, entity="dicomweb", entity_id=study_uid or "", study_id=study_id,
                  actor=actor, after=details)


def new_event(*, action: str, entity: str, entity_id, study_id=None, before=None, after=None, actor=None):
    """An unsaved event attributed to ``actor`` (default: the current one); :func:`append_events` stores it."""
    from studies.models import AuditEvent

    actor = actor or current_actor()
    ctx = _current.get()
    return AuditEvent(
        actor_id=getattr(actor, "pk", None),
        actor_username=getattr(actor, "username", "") or "system",
        study_id=None if study_id is None else int(study_id),
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=json_safe(before),
        after=json_safe(after),
        request_id=ctx.request_id if ctx else "",
    )


def append_events(events: list) -> list:
    """Chain and insert ``events`` in order (one lock and one INSERT for the lot)."""
    from studies.models import AuditEvent

    with transaction.atomic(savepoint=False):  # a failure fails the caller's transaction anyway
        _lock_chain()
        head = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev_hash = head or (0, GENESIS_HASH)
        now = timezone.now()  # taken under the lock, so the times follow the order of the chain
        for event in events:
            seq += 1
            event.seq, event.prev_hash, event.at = seq, prev_hash, now
            event.hash = prev_hash = event_hash(vars(event))
        AuditEvent.objects.bulk_create(events)
    every = settings.AUDIT_ANCHOR_EVERY
    if every and (events[0].seq - 1) // every != seq // every:
        transaction.on_commit(anchor_head)
    return events


def _lock_chain() -> None:
    """Serialize appends until commit, so each event follows the last committed one.

    SQLite needs nothing here: its transactions start IMMEDIATE (settings), holding the
    database's single write lock from the start.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def record_change(instance: models.Model, *, action: str, before: dict | None, after: dict | None):
    changed = after if before is None else {k: v for k, v in (after or {}).items() if before.get(k) != v}
    if action == "update" and not changed:
        return None
    return record(
        action=action,
        entity=instance._meta.label,
        entity_id=instance.pk,
        study_id=study_id_of(instance),
        before=before,
        after=after,
    )


# ---------------------------------------------------------------- anchors

def anchor_head() -> dict | None:
    """Append the committed head (seq, hash) to the anchor file and the log; None while the trail is empty."""
    from studies.models import AuditEvent

    head = AuditEvent.objects.order_by("-seq").values("seq", "hash", "at").first()
    if head is None:
        return None
    anchor = {"seq": head["seq"], "hash": head["hash"], "event_at": chain_timestamp(head["at"]),
              "anchored_at": chain_timestamp(timezone.now())}
    path = Path(settings.AUDIT_ANCHOR_FILE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # whole lines from concurrent processes
        handle.write(json.dumps(anchor, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    anchor_log.info("audit anchor seq=%s hash=%s", anchor["seq"], anchor["hash"])
    return anchor


def read_anchors(lines: Iterable[str]) -> list[dict]:
    """The anchors of an anchor file's lines; a line that is not an anchor raises ValueError."""
    anchors = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            anchor = json.loads(line)
            anchors.append({"seq": int(anchor["seq"]), "hash": str(anchor["hash"]),
                            "anchored_at": str(anchor.get("anchored_at", ""))})
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"line {number} of the anchor file is not an anchor") from None
    return anchors
