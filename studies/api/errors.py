from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from studies.errors import DomainError

# Django's own request limits, met when it reads a body or parses a form or multipart body.
REQUEST_LIMITS = {
    RequestDataTooBig: lambda: f"request body larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes",
    TooManyFieldsSent: lambda: f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} form fields",
    TooManyFilesSent: lambda: f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files in one request",
}


def exception_handler(exc, context):
    """Domain errors become JSON ``{"detail", "field", "line", "errors", "code"}`` with their status code;
    a body over Django's request limits is a 400 with the limit named."""
    if isinstance(exc, DomainError):
        body = {"detail": str(exc)}
        for name in ("field", "line", "code"):
            if getattr(exc, name) is not None:
                body[name] = getattr(exc, name)
        if exc.errors:
            body["errors"] = exc.errors
        return Response(body, status=exc.status_code)
    if type(exc) in REQUEST_LIMITS:
        return Response({"detail": REQUEST_LIMITS[type(exc)]()}, status=400)
    return drf_exception_handler(exc, context)
