from django.db import models


class ReadingSession(models.Model):
    """One sitting of a reader; it opens at ``opens_at`` (washout) and after the previous one."""

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="sessions")
    reader = models.ForeignKey("studies.Reader", on_delete=models.CASCADE, related_name="sessions")
    number = models.PositiveSmallIntegerField()
    arm = models.ForeignKey(
        "studies.Arm", null=True, blank=True, on_delete=models.PROTECT, help_text="Empty when arms are mixed"
    )
    opens_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(
        null=True, blank=True, help_text="When the reader was e-mailed that the session is open"
    )

    class Meta:
        ordering = ["reader_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "number"], name="session_number_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="session_number_positive"),
        ]

    def __str__(self):
        return f"{self.reader} session {self.number}"


class Assignment(models.Model):
    """One scheduled read: reader × case × arm, exactly once, at a position in a session."""

    session = models.ForeignKey(ReadingSession, on_delete=models.CASCADE, related_name="assignments")
    reader = models.ForeignKey("studies.Reader", on_delete=models.CASCADE, related_name="assignments")
    case = models.ForeignKey("studies.Case", on_delete=models.PROTECT, related_name="assignments")
    arm = models.ForeignKey("studies.Arm", on_delete=models.PROTECT, related_name="assignments")
    order = models.PositiveIntegerField()

    class Meta:
        ordering = ["session_id", "order"]
        constraints = [
            models.UniqueConstraint(fields=["reader", "case", "arm"], name="assignment_once"),
            models.UniqueConstraint(fields=["session", "order"], name="assignment_order_unique"),
        ]
