"""E-mail to a reader when one of their reading sessions opens (its washout is over and the earlier
sessions are done), once per session: ``ReadingSession.reminded_at`` records it.

Celery beat runs :func:`send_session_reminders` every ``SESSION_REMINDERS_EVERY_S`` (so a reader hears
within that time), and so can ``manage.py send_session_reminders``. Each session is marked in the
transaction that sends its mail: a mail the server refuses leaves the session unmarked, to be tried again
at the next run; a crash between sending and committing can send one reminder twice, never none.
"""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from studies.models import ReadingSession
from studies.rules import open_sessions

log = logging.getLogger(__name__)


@dataclass
class RemindersSent:
    sent: list[int] = field(default_factory=list)  # session ids
    without_address: list[int] = field(default_factory=list)  # open sessions whose reader has no e-mail address
    failed: list[int] = field(default_factory=list)  # the mail server refused: tried again at the next run


def due_sessions(now: datetime | None = None):
    """Open sessions whose reader has not been told."""
    return open_sessions(now).filter(reminded_at__isnull=True).order_by("id")


def send_session_reminders(*, now: datetime | None = None) -> RemindersSent:
    now = now or timezone.now()
    result = RemindersSent()
    for session_id, email in due_sessions(now).values_list("id", "reader__user__email"):
        if not email:
            result.without_address.append(session_id)
            continue
        try:
            if _remind(session_id, now):
                result.sent.append(session_id)
        except (OSError, smtplib.SMTPException) as exc:  # one refused address must not hold up the others
            log.warning("session reminder %s not sent: %s", session_id, exc)
            result.failed.append(session_id)
    return result


@transaction.atomic
def _remind(session_id: int, now: datetime) -> bool:
    """Mail the reader of the session and mark it, unless another run has just done so."""
    session = (ReadingSession.objects.select_for_update(of=("self",)).select_related("study", "reader__user")
               .filter(pk=session_id, reminded_at__isnull=True).first())
    if session is None:
        return False
    user = session.reader.user
    context = {"session": session, "study": session.study, "user": user, "site_url": settings.SITE_URL.rstrip("/")}
    send_mail(subject=f"Reading session {session.number} is open: {session.study.title}",
              message=render_to_string("console/session_reminder_email.txt", context), from_email=None,
              recipient_list=[user.email])
    session.reminded_at = now
    session.save(update_fields=["reminded_at"])  # audited as a change of the session
    return True

