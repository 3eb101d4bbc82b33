"""The users the authentication tests log in as; staff accounts here may use the Django admin."""

import pytest

from studies.models import Role


@pytest.fixture
def reader(make_user):
    return make_user("reader1", Role.READER)


@pytest.fixture
def admin_user(make_user):
    """An administrator who may use the Django admin (is_staff, as seed_demo makes staff)."""
    return make_user("boss", Role.ADMIN, is_staff=True)


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", Role.COORDINATOR, is_staff=True)
