"""Reader invitations: the account, the enrollment, the e-mail and its one-time link, and the audit trail."""

import re
from datetime import timedelta

import pytest
from django.core import mail

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent, Role, User
from studies.services import invitations
from studies.services.invitations import invite_tokens
from tests.conftest import create_user

pytestmark = pytest.mark.django_db
SITE = "https://reading.example.org"
LINK = re.compile(r"https://reading\.example\.org/accounts/invite/(?P<uid>[\w-]+)/(?P<token>[\w-]+)/")


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return mail.outbox


@pytest.fixture
def draft(make_study):
    return make_study(status="draft", n_readers=0, n_cases=2)


def _link(message) -> tuple[str, str]:
    found = LINK.search(message.body)
    assert found, message.body
    return found["uid"], found["token"]


def test_an_invitation_makes_a_reader_without_password_enrolls_and_mails_the_link(draft, coordinator, mailbox):
    reader = invitations.invite_reader(actor=coordinator, study=draft, email="Ada@Example.org", name="Ada Lovelace",
                                       code="R07", group=1, site_url=SITE)
    user = reader.user
    assert (user.username, user.email, user.role, user.first_name, user.last_name) == (
        "ada@example.org", "Ada@Example.org", Role.READER, "Ada", "Lovelace")
    assert not user.has_usable_password()
    assert (reader.study, reader.code, reader.group) == (draft, "R07", 1)
    message, = mailbox
    assert message.to == ["Ada@Example.org"] and draft.title in message.subject
    assert "ada@example.org" in message.body and "R07" in message.body
    assert invitations.invited_user(*_link(message)) == user
    event = AuditEvent.objects.get(action="reader.invite_sent")
    assert (event.study_id, event.entity, event.entity_id, event.actor_id) == (draft.pk, "studies.Reader",
                                                                               str(reader.pk), coordinator.pk)
    assert event.after == {"email": "Ada@Example.org", "set_password_link": True}


def test_the_link_sets_the_password_once_and_the_acceptance_is_audited(draft, coordinator, mailbox):
    reader = invitations.invite_reader(actor=coordinator, study=draft, email="bo@example.org", site_url=SITE)
    uid, token = _link(mailbox[0])
    user = invitations.invited_user(uid, token)
    invitations.accept_invite(user=user, token=token, password="a long passphrase 42")
    user.refresh_from_db()
    assert user.check_password("a long passphrase 42")
    assert invitations.invited_user(uid, token) is None
    with pytest.raises(RuleViolation, match="has been used"):
        invitations.accept_invite(user=user, token=token, password="another passphrase 43")
    accepted = AuditEvent.objects.get(action="reader.invite_accepted")
    assert (accepted.study_id, accepted.entity_id, accepted.actor_id) == (draft.pk, str(reader.pk), user.pk)


def test_a_resent_invitation_ends_the_earlier_link(draft, coordinator, mailbox):
    reader = invitations.invite_reader(actor=coordinator, study=draft, email="cy@example.org", site_url=SITE)
    first = _link(mailbox[0])
    invitations.resend_invite(actor=coordinator, reader=reader, site_url=SITE)
    second = _link(mailbox[1])
    assert invitations.invited_user(*first) is None
    assert invitations.invited_user(*second) == reader.user
    assert AuditEvent.objects.filter(action="reader.invite_resent", entity_id=str(reader.pk)).count() == 1
    assert set(invitations.last_invited(draft)) == {reader.pk}


def test_the_link_expires_after_the_configured_days(draft, coordinator, mailbox, settings, monkeypatch):
    settings.READER_INVITE_DAYS = 2
    invitations.invite_reader(actor=coordinator, study=draft, email="di@example.org", site_url=SITE)
    uid, token = _link(mailbox[0])
    now = invite_tokens._now()  # naive local time, as Django's token generator counts
    monkeypatch.setattr(invite_tokens, "_now", lambda: now + timedelta(days=1, hours=23))
    assert invitations.invited_user(uid, token) is not None
    monkeypatch.setattr(invite_tokens, "_now", lambda: now + timedelta(days=2, hours=1))
    assert invitations.invited_user(uid, token) is None


def test_a_password_reset_token_is_no_invitation(draft, coordinator):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    reader = invitations.invite_reader(actor=coordinator, study=draft, email="ed@example.org", site_url=SITE)
    uid = urlsafe_base64_encode(force_bytes(reader.user.pk))
    assert invitations.invited_user(uid, default_token_generator.make_token(reader.user)) is None
    assert invitations.invited_user(uid, "1-" + "0" * 32) is None
    assert invitations.invited_user("not-base64!", invite_tokens.make_token(reader.user)) is None


def test_an_active_reader_is_enrolled_and_told_without_a_link(draft, coordinator, mailbox):
    existing = create_user("frank", Role.READER, email="frank@example.org")
    reader = invitations.invite_reader(actor=coordinator, study=draft, email="FRANK@example.org", site_url=SITE)
    assert reader.user == existing and existing.check_password("pw")
    assert not LINK.search(mailbox[0].body) and "frank" in mailbox[0].body
    with pytest.raises(RuleViolation, match="has set a password already"):
        invitations.resend_invite(actor=coordinator, reader=reader, site_url=SITE)


@pytest.mark.parametrize("email,message", [
    ("not an address", "is not an e-mail address"),
    ("stat@example.org", "who is not a reader"),
])
def test_refused_invitations_store_and_send_nothing(draft, coordinator, mailbox, email, message):
    create_user("stat2", Role.STATISTICIAN, email="stat@example.org")
    users = User.objects.count()
    with pytest.raises(InvalidInput, match=message) as refused:
        invitations.invite_reader(actor=coordinator, study=draft, email=email, site_url=SITE)
    assert refused.value.field == "email"
    assert (User.objects.count(), draft.readers.count(), len(mailbox)) == (users, 0, 0)


def test_a_taken_code_refuses_the_whole_invitation(draft, coordinator, mailbox):
    invitations.invite_reader(actor=coordinator, study=draft, email="g1@example.org", code="R01", site_url=SITE)
    with pytest.raises(InvalidInput, match="reader code 'R01' is taken"):
        invitations.invite_reader(actor=coordinator, study=draft, email="g2@example.org", code="R01", site_url=SITE)
    assert not User.objects.filter(email="g2@example.org").exists() and len(mailbox) == 1


def test_a_mail_server_that_fails_stores_nothing(draft, coordinator, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(invitations, "send_mail", refuse)
    with pytest.raises(invitations.MailNotSent, match="could not be sent"):
        invitations.invite_reader(actor=coordinator, study=draft, email="h@example.org", site_url=SITE)
    assert not User.objects.filter(email="h@example.org").exists()
    assert not AuditEvent.objects.filter(action="reader.invite_sent").exists()


def test_only_the_studys_coordinators_invite(draft, statistician, make_user):
    other = make_user("other_coord", Role.COORDINATOR)
    for actor in (statistician, other):
        with pytest.raises(NotAllowed):
            invitations.invite_reader(actor=actor, study=draft, email="i@example.org", site_url=SITE)
    assert not draft.readers.exists()
