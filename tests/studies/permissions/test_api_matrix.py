"""Every API route × method × role: the exact status, and nothing written by a refused request."""

import pytest

from studies.models import AuditEvent

from .routes import MATRIX, PUBLIC, ROLES, api_url_names, call, last_event_seq, url_for

pytestmark = pytest.mark.usefixtures("route_targets")  # the studies in other statuses and the finished run

CASES = [(name, method, role) for name, methods in MATRIX.items() for method in methods for role in ROLES]


def test_every_api_route_is_in_the_matrix():
    assert api_url_names() - PUBLIC == set(MATRIX)


@pytest.mark.parametrize("name,method,role", CASES, ids=[f"{n}-{m}-{r}" for n, m, r in CASES])
def test_permission_matrix(api, world, name, method, role):
    rule = MATRIX[name][method]
    url = url_for(world, name, method)  # before the count below: building studies writes audit events
    last_event = last_event_seq()
    response = call(api, world, role, name, method, url)
    assert response.status_code == rule.expected_status(role), response.content[:500]
    if role == "anonymous":
        assert "WWW-Authenticate" in response
    if role not in rule.allowed:
        assert not AuditEvent.objects.filter(seq__gt=last_event).exists(), "a refused request left an audit event"
