"""API tokens: expiring, stored hashed, revoked at logout, checked without a scan of the user's
other tokens, and described in the OpenAPI schema."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken

from studies.models import AuditEvent

from .logins import TOKEN, token_login


def test_token_expires_after_ten_hours_and_is_stored_hashed(reader):
    before = timezone.now()
    body = token_login(Client(), "reader1", "pw").json()
    assert set(body) == {"token", "expiry"}
    expiry = parse_datetime(body["expiry"])
    assert before + timedelta(hours=10) <= expiry <= timezone.now() + timedelta(hours=10)
    stored, = AuthToken.objects.all()
    assert body["token"] not in str(AuthToken.objects.values_list()[0])  # only a digest and a key prefix
    assert stored.user == reader


def test_form_encoded_credentials_work_too(reader):
    response = Client().post(TOKEN, {"username": "reader1", "password": "pw"})
    assert response.status_code == 200 and response.json()["token"]


def test_token_authenticates_until_logout_then_401(reader):
    token = token_login(Client(), "reader1", "pw").json()["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/worklist/").status_code == 200
    assert client.post("/api/v1/auth/logout/").status_code == 204
    response = client.get("/api/v1/worklist/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Token")
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="auth.token").order_by("seq")] == [
        "auth.token_created", "auth.token_revoked",
    ]


def test_logout_all_revokes_every_token_of_the_user(reader):
    tokens = [token_login(Client(), "reader1", "pw").json()["token"] for _ in range(3)]
    assert Client(HTTP_AUTHORIZATION=f"Token {tokens[0]}").post("/api/v1/auth/logout-all/").status_code == 204
    for token in tokens:
        assert Client(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/worklist/").status_code == 401


def test_expired_token_gets_401(reader):
    token = token_login(Client(), "reader1", "pw").json()["token"]
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert Client(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/worklist/").status_code == 401


def test_a_token_request_reads_only_its_own_token(reader):
    token = token_login(Client(), "reader1", "pw").json()["token"]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/worklist/").status_code == 200
    token_queries = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(token_queries) == 1, token_queries  # the presented token (with its user), no scan of the others


def test_issuing_a_token_removes_the_users_expired_ones(reader, make_user):
    other = make_user("reader9")
    token_login(Client(), "reader1", "pw")
    token_login(Client(), "reader9", "pw")
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    token_login(Client(), "reader1", "pw")
    assert sorted(AuthToken.objects.values_list("user__username", flat=True)) == ["reader1", "reader9"]
    assert AuthToken.objects.get(user=reader).expiry > timezone.now()
    assert AuthToken.objects.get(user=other).expiry < timezone.now()  # another user's: left to their next login


def test_old_drf_token_header_format_is_still_the_prefix(reader):
    token = token_login(Client(), "reader1", "pw").json()["token"]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/worklist/").status_code == 401


def test_auth_routes_are_in_the_openapi_schema_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    token = schema["paths"]["/api/v1/auth/token/"]["post"]
    request_schema = token["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][request_schema]["required"]) == {"username", "password"}
    response_schema = token["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][response_schema]["properties"]) == {"token", "expiry"}
    assert set(token["responses"]) == {"200", "400", "403", "429"}
    for path in ("/api/v1/auth/logout/", "/api/v1/auth/logout-all/"):
        assert set(schema["paths"][path]["post"]["responses"]) == {"204"}
    messages = [str(m) for m in (*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache)]
    assert not [m for m in messages if "auth" in m.lower() or "Logout" in m or "TokenLogin" in m], messages
