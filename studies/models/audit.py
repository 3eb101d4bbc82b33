from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Append-only record of a change to study data, one link of a hash chain.

    Who and which study are plain values, not foreign keys, so deleting a user or a study
    can never rewrite history. ``seq`` numbers the events 1, 2, 3... in commit order (ids
    may skip numbers where a transaction rolled back); ``hash`` covers the event's content
    and ``prev_hash``, the hash of event ``seq - 1`` (see :mod:`studies.services.audit`).
    A database trigger refuses UPDATE and DELETE; the application's role may only insert.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    study_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=32)
    entity = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    seq = models.PositiveBigIntegerField(unique=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.entity}#{self.entity_id}"
