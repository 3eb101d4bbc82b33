"""The Django project: settings, URL configuration, the Celery application, WSGI and ASGI entry points."""
