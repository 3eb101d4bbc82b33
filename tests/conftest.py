"""Shared fixtures: users of every role and studies built through the real services."""

import os

import pytest

from studies.models import Role, Study, User

REQUIRE_SERVICES = os.environ.get("MRMC_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str):
    """Missing services skip a test on a laptop but fail it in CI (MRMC_REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture
def make_user(db):
    def make(username: str, role: str = Role.READER, **fields) -> User:
        user = User(username=username, role=role, **fields)
        user.set_password("pw")
        user.save()
        return user

    return make


@pytest.fixture
def coordinator(make_user):
    return make_user("coord", Role.COORDINATOR)


@pytest.fixture
def statistician(make_user):
    return make_user("stat", Role.STATISTICIAN)


@pytest.fixture
def admin_user(make_user):
    return make_user("boss", Role.ADMIN)


@pytest.fixture
def make_study(db, coordinator, make_user):
    """A study with arms, readers and cases (truth, AI outputs), optionally scheduled and reading."""
    from studies.services import imports, schedule
    from studies.services import studies as services

    def make(
        *,
        n_readers=3,
        n_cases=8,
        design=Study.Design.FULLY_CROSSED,
        arms=(("unaided", False), ("aided", True)),
        status=Study.Status.READING,
        seed=1,
        reader_prefix="reader",
        **fields,
    ) -> Study:
        fields.setdefault("washout_days", 28)
        study = services.create_study(actor=coordinator, title=f"Study {design}", design=design, **fields)
        for name, shows_ai in arms:
            services.add_arm(actor=coordinator, study=study, name=name, shows_ai=shows_ai)
        for i in range(n_readers):
            user = User.objects.filter(username=f"{reader_prefix}{i + 1}").first() or make_user(
                f"{reader_prefix}{i + 1}"
            )
            services.enroll_reader(actor=coordinator, study=study, user=user, group=i % 2 if design == "split_plot" else 0)
        rows = ["case,truth,study_instance_uid,reading_group,site"] + [
            f"C{i:03d},{i % 2},1.2.3.{study.pk}.{i},{i % 2},site-{'AB'[i % 2]}" for i in range(n_cases)
        ]
        if n_cases:
            imports.import_truth(actor=coordinator, study=study, data="\n".join(rows).encode())
        if n_cases and any(shows_ai for _, shows_ai in arms):
            ai = ["case,model_name,model_version,score"] + [f"C{i:03d},model,1,{i / n_cases}" for i in range(n_cases)]
            imports.import_ai_outputs(actor=coordinator, study=study, data="\n".join(ai).encode(), filename="ai.csv")
        if status == Study.Status.DRAFT:
            return study
        study = services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
        if status == Study.Status.ENROLLING:
            return study
        schedule.generate_schedule(actor=coordinator, study=study, seed=seed)
        return services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)

    return make


@pytest.fixture
def api(db):
    """A DRF test client logged in as the given user (or anonymous with None)."""
    from rest_framework.test import APIClient

    def client_for(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return client_for


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def tasks_in_process(request):
    """Tasks run in-process unless a test asks for the real worker (``celery_worker`` fixture)."""
    from mrmc.celery import app

    if "celery_worker" in request.fixturenames:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous
