from django.contrib.auth.models import AbstractUser
from django.db import models

from .bounds import between


class Role(models.TextChoices):
    ADMIN = "admin", "Administrator"
    COORDINATOR = "coordinator", "Study coordinator"
    STATISTICIAN = "statistician", "Statistician"
    READER = "reader", "Reader (radiologist)"
    TRUTHER = "truther", "Truther (expert establishing the reference standard)"
    MONITOR = "monitor", "Post-market quality staff (monitored deployments)"


class User(AbstractUser):
    """A person using the platform; the role decides what they may do at all,
    study membership (or reader enrollment) decides on which studies."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    specialty = models.CharField(max_length=100, blank=True, help_text="Readers: e.g. breast imaging")
    years_experience = models.PositiveSmallIntegerField(null=True, blank=True, validators=between(0, 100))

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="user_role_valid"),
        ]

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser or self.role == Role.ADMIN
