from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Reader studies"

    def ready(self):
        from . import signals  # noqa: F401
        from .services import (
            accounts,  # noqa: F401  (audit of logins, failures and lockouts)
            analysis,  # noqa: F401  (a run fails with its job)
        )
