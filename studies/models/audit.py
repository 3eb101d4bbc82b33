from django.db import models


class AuditEvent(models.Model):
    """Append-only record of a change to study data; a database trigger refuses UPDATE and DELETE.

    Who and which study are plain values, not foreign keys, so deleting a user or a study
    can never rewrite history.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    study_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=32)
    entity = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.entity}#{self.entity_id}"
