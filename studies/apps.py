from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "studies"
    verbose_name = "Reader studies"

    def ready(self):
        # Bind shared tasks to the configured Celery app in every process that runs Django.
        import config.celery  # noqa: F401

        from . import signals  # noqa: F401
        from .services import accounts  # noqa: F401  (audit of logins, failures and lockouts)
