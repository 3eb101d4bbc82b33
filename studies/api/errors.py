from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from studies.errors import DomainError


def exception_handler(exc, context):
    """Domain errors become JSON ``{"detail", "field", "line", "errors"}`` with their status code."""
    if isinstance(exc, DomainError):
        body = {"detail": str(exc)}
        for name in ("field", "line"):
            if getattr(exc, name) is not None:
                body[name] = getattr(exc, name)
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status_code)
    return drf_exception_handler(exc, context)
