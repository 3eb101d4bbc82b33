"""What the current log record belongs to: a web request or a Celery task (context variables).

Set by the request middleware and by the Celery signals; read by the log filter, which turns them
into the ``request_id``, ``user_id``, ``route`` and ``task`` fields of every record.
"""

import re
import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass

from django.utils.functional import SimpleLazyObject, empty

# A client's X-Request-ID is kept only when it is a short token (nginx's $request_id, a UUID):
# anything else could carry line breaks into logs or patient data into the audit trail.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


@dataclass(frozen=True)
class Scope:
    request_id: str
    request: object = None  # the HttpRequest while one is served
    task: str | None = None  # the Celery task's name and id while one runs
    task_id: str | None = None


_scope: ContextVar[Scope | None] = ContextVar("mrmc_scope", default=None)


def request_id_from(header: str | None) -> str:
    """The client's request id when it is a sane token, else a new one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current() -> Scope | None:
    return _scope.get()


def current_request_id() -> str | None:
    scope = _scope.get()
    return scope.request_id if scope else None


def enter(scope: Scope) -> Token:
    return _scope.set(scope)


def leave(token: Token) -> None:
    _scope.reset(token)


def route_of(request) -> str:
    """The URL pattern's name (``api-reading-submit``), never the path: paths carry UIDs and ids."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match else "unmatched"


def user_id_of(request) -> int | None:
    """The signed-in user's primary key, if authentication has already looked it up.

    Never forces the lookup: a log line must not cost a session query, nor fail with the database.
    """
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    return user.pk if user is not None and user.is_authenticated else None
