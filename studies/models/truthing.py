"""The truthing panel (issue 18): experts who establish a study's reference standard by reading its cases
in the workstation's truthing mode, in rounds, and the adjudicator who settles their disagreements.

A truther's label of a case in a round is one :class:`TruthLabel` (a yes/no label and lesion marks as boxes,
points or polygons); the adjudicator's decision on a disputed case is one :class:`TruthAdjudication`. The
truth they establish is written to the case (``Case.truth``, ``lesions``, ``truth_method``,
``truth_established_by``, ``truth_provenance``) by :mod:`studies.services.truthing`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from .bounds import INTEGER_MAX, between

MAX_ROUNDS = 2  # LIDC: a blinded round, then an unblinded one showing the other experts' marks


class TruthingMember(models.Model):
    """A user on a study's truthing panel: a truther, or its adjudicator (one per study)."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="truthing_members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="truthing_memberships")
    code = models.CharField(max_length=32, help_text="Pseudonym in exports and agreement tables, e.g. E1")
    is_adjudicator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="truthing_member_once"),
            models.UniqueConstraint(fields=["study", "code"], name="truthing_member_code_unique"),
            models.UniqueConstraint(fields=["study"], condition=Q(is_adjudicator=True),
                                    name="truthing_one_adjudicator"),
        ]

    def __str__(self):
        return self.code


class TruthLabel(models.Model):
    """A truther's label of one case in one round: final once submitted (a retry with its key returns it)."""

    case = models.ForeignKey("studies.Case", on_delete=models.PROTECT, related_name="truth_labels")
    member = models.ForeignKey(TruthingMember, on_delete=models.PROTECT, related_name="labels")
    round = models.PositiveSmallIntegerField(validators=between(1, MAX_ROUNDS))
    label = models.PositiveSmallIntegerField(null=True, blank=True, help_text="1 diseased, 0 not",
                                             validators=between(0, 1))
    lesions = models.JSONField(
        default=list, blank=True,
        help_text="Marks: {type: box|point|polygon, sop_instance_uid, frame, points: [[x, y], ...]} in image pixels",
    )
    comment = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True, validators=between(0, INTEGER_MAX))
    idempotency_key = models.UUIDField(unique=True)

    class Meta:
        ordering = ["case_id", "round", "member_id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "member", "round"], name="truth_label_once_per_round"),
            models.CheckConstraint(condition=Q(round__gte=1, round__lte=MAX_ROUNDS), name="truth_label_round_range"),
            models.CheckConstraint(condition=Q(label__isnull=True) | Q(label__in=[0, 1]), name="truth_label_binary"),
        ]


class TruthAdjudication(models.Model):
    """The adjudicator's truth of a case the panel disagreed on, with the reason."""

    case = models.OneToOneField("studies.Case", on_delete=models.PROTECT, related_name="adjudication")
    member = models.ForeignKey(TruthingMember, on_delete=models.PROTECT, related_name="adjudications")
    label = models.PositiveSmallIntegerField(help_text="1 diseased, 0 not", validators=between(0, 1))
    lesions = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.UUIDField(unique=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(label__in=[0, 1]), name="truth_adjudication_binary")]
