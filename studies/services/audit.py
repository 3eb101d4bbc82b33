"""The audit trail: who changed which study data, when, with the values before and after.

Model saves and deletes of study data are recorded by signal handlers (so changes made in
the admin or a shell are caught too); bulk operations record one summary event. The actor
comes from the request (middleware) or from :func:`context` in commands and tasks.
"""

import contextlib
import contextvars
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


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


def snapshot(instance: models.Model) -> dict:
    """JSON-safe field values of a model instance (foreign keys as ids)."""
    values = {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}
    return json.loads(json.dumps(values, cls=DjangoJSONEncoder))


def study_id_of(instance: models.Model) -> int | None:
    from studies.models import Study

    if isinstance(instance, Study):
        return instance.pk
    return getattr(instance, "study_id", None) or _study_id_via(instance)


def _study_id_via(instance) -> int | None:
    for attr in ("assignment", "reader", "read", "case"):
        related = getattr(instance, attr, None)
        if related is not None and related is not instance:
            return study_id_of(related)
    return None


def record(*, action: str, entity: str, entity_id, study_id=None, before=None, after=None, actor=None):
    from studies.models import AuditEvent

    actor = actor or current_actor()
    ctx = _current.get()
    return AuditEvent.objects.create(
        actor_id=getattr(actor, "pk", None),
        actor_username=getattr(actor, "username", "") or "system",
        study_id=study_id,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
        request_id=ctx.request_id if ctx else "",
    )


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
