"""E-mail reminders: a reader hears once when a session of theirs opens, whoever runs the sending
(Celery beat, the management command), and a mail the server refuses is tried again next time."""

import smtplib
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from studies import tasks
from studies.models import AuditEvent, ReadingSession, Study, User
from studies.services import reads, reminders

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(make_study):
    """Reading, 2 readers with e-mail addresses, sessions 28 days apart: each reader's first session is open."""
    study = make_study(n_readers=2, n_cases=2, washout_days=28)
    for reader in study.readers.select_related("user"):
        reader.user.email = f"{reader.user.username}@example.org"
        reader.user.first_name, reader.user.last_name = "Ada", reader.code
        reader.user.save()
    return study


def sessions(study: Study) -> dict:
    return {(s.reader.code, s.number): s for s in ReadingSession.objects.filter(study=study).select_related("reader")}


def test_each_open_session_is_mailed_once(study, settings):
    settings.SITE_URL = "https://reader-study.example.org/"
    sent = reminders.send_session_reminders()
    assert sorted((message.to[0], message.subject) for message in mail.outbox) == [
        ("reader1@example.org", "Reading session 1 is open: Study fully_crossed"),
        ("reader2@example.org", "Reading session 1 is open: Study fully_crossed"),
    ]
    body = mail.outbox[0].body
    assert body.startswith("Hello Ada R0") and "https://reader-study.example.org/read/" in body
    assert "session 1 of the reader study \"Study fully_crossed\" is open" in body
    by_key = sessions(study)
    assert sorted(sent.sent) == sorted([by_key[("R01", 1)].pk, by_key[("R02", 1)].pk])
    assert by_key[("R01", 1)].reminded_at is not None and by_key[("R01", 2)].reminded_at is None
    assert AuditEvent.objects.filter(entity="studies.ReadingSession", entity_id=str(by_key[("R01", 1)].pk),
                                     action="update").exists()
    assert reminders.send_session_reminders().sent == [] and len(mail.outbox) == 2


def test_a_session_is_mailed_when_its_washout_ends_after_the_previous_one(study):
    reminders.send_session_reminders()
    mail.outbox.clear()
    first = sessions(study)[("R01", 1)]
    for assignment in first.assignments.select_related("reader__user"):
        reads.submit_read(user=assignment.reader.user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                          values=reads.ReadInput(rating=50))
    assert reminders.send_session_reminders().sent == []  # the washout runs
    second = sessions(study)[("R01", 2)]
    assert reminders.send_session_reminders(now=second.opens_at - timedelta(minutes=1)).sent == []
    assert reminders.send_session_reminders(now=second.opens_at).sent == [second.pk]
    assert [message.subject for message in mail.outbox] == ["Reading session 2 is open: Study fully_crossed"]


def test_nothing_is_sent_before_reading_starts(make_study):
    study = make_study(n_readers=1, n_cases=2, status=Study.Status.ENROLLING)
    User.objects.filter(pk=study.readers.get().user_id).update(email="r@example.org")
    assert reminders.send_session_reminders().sent == [] and mail.outbox == []


def test_a_reader_without_an_address_is_reported_not_marked(study):
    user = study.readers.get(code="R02").user
    user.email = ""
    user.save()
    sent = reminders.send_session_reminders()
    assert sent.without_address == [sessions(study)[("R02", 1)].pk]
    assert sessions(study)[("R02", 1)].reminded_at is None
    assert [message.to for message in mail.outbox] == [["reader1@example.org"]]


def test_a_refused_mail_is_tried_again_and_the_others_go_out(study, monkeypatch):
    real_send = reminders.send_mail

    def refuse_reader1(*, recipient_list, **kwargs):
        if recipient_list == ["reader1@example.org"]:
            raise smtplib.SMTPRecipientsRefused({"reader1@example.org": (550, b"no such mailbox")})
        return real_send(recipient_list=recipient_list, **kwargs)

    monkeypatch.setattr(reminders, "send_mail", refuse_reader1)
    sent = reminders.send_session_reminders()
    assert (len(sent.sent), len(sent.failed)) == (1, 1)
    assert sessions(study)[("R01", 1)].reminded_at is None and sessions(study)[("R02", 1)].reminded_at is not None
    monkeypatch.setattr(reminders, "send_mail", real_send)
    assert reminders.send_session_reminders().sent == [sessions(study)[("R01", 1)].pk]


def test_the_command_and_the_beat_task_send_them(study):
    out = StringIO()
    call_command("send_session_reminders", stdout=out)
    assert out.getvalue().startswith("2 reminders sent, 0 refused")
    ReadingSession.objects.filter(study=study).update(reminded_at=None)
    mail.outbox.clear()
    assert tasks.send_session_reminders.delay().get() == {"sent": 2, "without_address": 0, "failed": 0}
    assert len(mail.outbox) == 2
    schedule = django_settings.CELERY_BEAT_SCHEDULE["session-reminders"]
    assert schedule["task"] == "studies.send_session_reminders" and schedule["schedule"] > 0


def test_a_session_reminded_meanwhile_is_not_mailed_again(study):
    first = sessions(study)[("R01", 1)]
    due = list(reminders.due_sessions().values_list("id", flat=True))
    ReadingSession.objects.filter(pk=first.pk).update(reminded_at=timezone.now())  # another run was quicker
    assert first.pk in due
    assert reminders._remind(first.pk, timezone.now()) is False and mail.outbox == []
