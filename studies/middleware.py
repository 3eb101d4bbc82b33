import uuid

from .services import audit


class AuditContextMiddleware:
    """Makes the requesting user and a request id available to audit records."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        with audit.context(user_getter=lambda: getattr(request, "user", None), request_id=request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
