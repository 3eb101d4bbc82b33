"""Celery tasks log under the request that queued them.

``before_task_publish`` writes the current request id into the task message's headers; in the
worker ``task_prerun`` opens a log scope with it (a new id when a task was queued outside any
request, e.g. by beat) and the task's name and id, ``task_postrun`` closes it. Tasks run in-process
(no broker) keep the request's scope and only add the task.
"""

import uuid

from . import context

HEADER = "mrmc_request_id"
_open_scopes = {}  # task id -> token of the scope task_prerun opened


def add_request_id(headers=None, **kwargs):
    request_id = context.current_request_id()
    if headers is not None and request_id:
        headers[HEADER] = request_id


def enter_task(task_id=None, task=None, **kwargs):
    request_id = getattr(task.request, HEADER, None) or context.current_request_id() or uuid.uuid4().hex
    request = scope.request if (scope := context.current()) else None
    _open_scopes[task_id] = context.enter(context.Scope(request_id, request, task.name, task_id))


def leave_task(task_id=None, **kwargs):
    token = _open_scopes.pop(task_id, None)
    if token is not None:
        context.leave(token)


def keep_django_logging(**kwargs):
    """Connected to ``setup_logging``: Celery then leaves Django's ``LOGGING`` in place (one format)."""
