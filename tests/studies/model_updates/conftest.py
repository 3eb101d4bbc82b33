import pytest

from studies.models import Role

from .world import build_locked_study


@pytest.fixture
def monitor(make_user):
    return make_user("quality", Role.MONITOR)


@pytest.fixture
def locked_study(coordinator, statistician, monitor):
    return build_locked_study(coordinator, statistician, monitor)
