"""Logging in by the page and by the token endpoint, and reading the audit trail of it."""

from studies.models import AuditEvent

LOGIN = "/accounts/login/"
TOKEN = "/api/v1/auth/token/"
ADMIN_LOGIN = "/admin/login/"


def audit_events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def page_login(client, username, password, path=LOGIN):
    return client.post(path, {"username": username, "password": password})


def token_login(client, username, password, **extra):
    return client.post(TOKEN, {"username": username, "password": password, **extra}, content_type="application/json")
