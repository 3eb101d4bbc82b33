"""Audit every save and delete of study data, whatever path the change took; grant the app role after migrate."""

from django.conf import settings
from django.db import connections
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save
from django.dispatch import receiver

from .models import (
    AIModel,
    AIOutput,
    AIOutputSet,
    Arm,
    Case,
    DicomStudy,
    LockedEvaluation,
    ModelUpdateEvaluation,
    MonitoredDeployment,
    MonitoringAlarm,
    ProtocolDeviation,
    Read,
    Reader,
    ReadingSession,
    ReadRevision,
    Study,
    StudyMembership,
    TrainingRead,
    TruthAdjudication,
    TruthingMember,
    TruthLabel,
    User,
)
from .services import audit, database_roles

AUDITED_MODELS = (
    Study, StudyMembership, Arm, Case, AIModel, AIOutputSet, AIOutput, Reader, ReadingSession, Read, ReadRevision,
    TrainingRead, User, DicomStudy, TruthingMember, TruthLabel, TruthAdjudication, ProtocolDeviation,
    LockedEvaluation, ModelUpdateEvaluation, MonitoredDeployment, MonitoringAlarm,
)
_AUDIT_BEFORE = "_audit_before"


@receiver(pre_save)
def remember_previous_values(sender, instance, raw=False, **kwargs):
    if sender not in AUDITED_MODELS or raw or instance.pk is None:
        return
    previous = sender._default_manager.filter(pk=instance.pk).first()
    setattr(instance, _AUDIT_BEFORE, audit.snapshot(previous) if previous else None)


@receiver(post_save)
def record_save(sender, instance, created, raw=False, **kwargs):
    if sender not in AUDITED_MODELS or raw:
        return
    before = None if created else getattr(instance, _AUDIT_BEFORE, None)
    after = audit.snapshot(instance)
    if sender is User:  # no password hashes in the audit trail, and logins are not changes
        for values in (before, after):
            for field in ("password", "last_login"):
                (values or {}).pop(field, None)
    audit.record_change(instance, action="create" if created else "update", before=before, after=after)


@receiver(post_delete)
def record_delete(sender, instance, **kwargs):
    if sender not in AUDITED_MODELS:
        return
    audit.record_change(instance, action="delete", before=audit.snapshot(instance), after=None)


@receiver(post_migrate)
def grant_app_role_new_tables(sender, using, **kwargs):
    """After ``migrate`` (run as the owner), the application's role gets exactly its rights on every table."""
    connection = connections[using]
    role = settings.DATABASE_APP_ROLE
    if sender.name != "studies" or not role or connection.vendor != "postgresql":
        return
    if database_roles.role_exists(connection, role) and connection.settings_dict["USER"] != role:
        database_roles.grant_privileges(connection, role)
