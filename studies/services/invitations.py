"""Inviting readers by e-mail: an account without a usable password, enrolled in the study, and a
link to set the password, sent with Django's mail backend (settings: EMAIL_*).

The link carries a token of :class:`InviteTokenGenerator`: Django's password-reset token under a salt
of its own, so that a reset link is no invitation nor the reverse. It hashes the account's password
field, so it works once: setting the password ends it, and so does a re-sent invitation (which gives
the account a new unusable password). It expires after ``READER_INVITE_DAYS``.
"""

import smtplib

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

from studies.errors import DomainError, InvalidInput, RuleViolation
from studies.models import AuditEvent, Reader, Role, Study, User
from studies.permissions import Action, require
from studies.services import audit
from studies.services import studies as study_services

SENT, RESENT, ACCEPTED = "reader.invite_sent", "reader.invite_resent", "reader.invite_accepted"


class MailNotSent(DomainError):
    """The mail server refused or could not be reached; nothing was stored."""

    status_code = 503


class InviteTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "studies.services.invitations.InviteTokenGenerator"

    def check_token(self, user, token) -> bool:
        """Django's check with the invitation's lifetime instead of PASSWORD_RESET_TIMEOUT."""
        if not (user and token):
            return False
        try:
            timestamp = base36_to_int(token.split("-")[0])
        except ValueError:
            return False
        if self._num_seconds(self._now()) - timestamp > settings.READER_INVITE_DAYS * 86400:
            return False
        return any(constant_time_compare(self._make_token_with_timestamp(user, timestamp, secret), token)
                   for secret in [self.secret, *self.secret_fallbacks])


invite_tokens = InviteTokenGenerator()


def invite_path(user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("invite-accept", kwargs={"uidb64": uidb64, "token": invite_tokens.make_token(user)})


def invited_user(uidb64: str, token: str) -> User | None:
    """The account a link is for, while the link works; None for a used, replaced, expired or forged one."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True, role=Role.READER).first()
    return user if user is not None and invite_tokens.check_token(user, token) else None


@transaction.atomic
def invite_reader(*, actor: User, study: Study, email: str, name: str = "", code: str = "", group: int = 0,
                  site_url: str) -> Reader:
    """Enroll the reader with this e-mail address (an account made for it if there is none) and mail the
    link to set a password, or, to a reader who has one already, the news of the enrollment."""
    require(actor, Action.CHANGE_STUDY, study)
    user = _reader_account(email.strip(), name.strip())
    reader = study_services.enroll_reader(actor=actor, study=study, user=user, code=code, group=group)
    _send(reader, site_url, SENT, actor)
    return reader


@transaction.atomic
def resend_invite(*, actor: User, reader: Reader, site_url: str) -> Reader:
    """A new link for a reader who has not set a password yet; earlier links stop working."""
    require(actor, Action.CHANGE_STUDY, reader.study)
    user = User.objects.select_for_update().get(pk=reader.user_id)
    if user.has_usable_password():
        raise RuleViolation(f"{user.username} has set a password already and logs in with it")
    user.set_unusable_password()  # a new password field: the tokens of earlier links no longer match
    user.save(update_fields=["password"])
    reader.user = user
    _send(reader, site_url, RESENT, actor)
    return reader


@transaction.atomic
def accept_invite(*, user: User, token: str, password: str) -> User:
    """Set the password an invitation's link was for (already checked by the password validators);
    the link stops working."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not invite_tokens.check_token(user, token):
        raise RuleViolation("this invitation link has been used, replaced by a newer one or has expired")
    with audit.context(user=user):  # the reader is not logged in yet: the change is theirs all the same
        user.set_password(password)
        user.save(update_fields=["password"])
        for reader in user.enrollments.all():
            audit.record(action=ACCEPTED, entity="studies.Reader", entity_id=reader.pk, study_id=reader.study_id)
    return user


def last_invited(study: Study) -> dict[int, object]:
    """When each reader of the study was last sent an invitation, by reader id (from the audit trail)."""
    events = AuditEvent.objects.filter(study_id=study.pk, entity="studies.Reader", action__in=(SENT, RESENT))
    return {int(entity_id): at for entity_id, at in events.order_by("seq").values_list("entity_id", "at")}


def _reader_account(email: str, name: str) -> User:
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(f"'{email}' is not an e-mail address", field="email") from None
    accounts = list(User.objects.filter(email__iexact=email)[:2])
    if len(accounts) > 1:
        raise InvalidInput("more than one account has this e-mail address: enroll the reader by username",
                           field="email")
    if accounts:
        user = accounts[0]
        if user.role != Role.READER or user.is_superuser:
            raise InvalidInput(f"{email} belongs to {user.username}, who is not a reader", field="email")
        return user
    username = email.lower()
    if User.objects.filter(username=username).exists():
        raise InvalidInput(f"the username {username} is taken by an account with another e-mail address",
                           field="email")
    first, _, last = name.partition(" ")
    user = User(username=username, email=email, role=Role.READER, first_name=first, last_name=last)
    user.set_unusable_password()
    user.save()
    return user


def _send(reader: Reader, site_url: str, action: str, actor: User) -> None:
    user = reader.user
    link = site_url + invite_path(user) if not user.has_usable_password() else ""
    context = {"reader": reader, "study": reader.study, "user": user, "link": link, "site_url": site_url,
               "days": settings.READER_INVITE_DAYS}
    subject = f"Reader study: {reader.study.title}"
    try:
        send_mail(subject, render_to_string("console/invite_email.txt", context), None, [user.email])
    except (OSError, smtplib.SMTPException) as exc:
        raise MailNotSent(f"the invitation to {user.email} could not be sent ({exc}); nothing was stored") from None
    audit.record(action=action, entity="studies.Reader", entity_id=reader.pk, study_id=reader.study_id, actor=actor,
                 after={"email": user.email, "set_password_link": bool(link)})
