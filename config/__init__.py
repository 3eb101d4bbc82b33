"""The Django project: settings, URL configuration, the Celery application, WSGI and ASGI entry points.

The Celery app is created with the project (Django's settings module lives in this package), so every
process that runs Django binds shared tasks to it; the app layer never imports the project.
"""

from .celery import app as celery_app

__all__ = ["celery_app"]
