"""Operations: request ids and structured logs, Prometheus metrics, health checks.

A Django app of its own (``apps.ObservabilityConfig``) so that every process that sets Django up,
gunicorn workers and Celery workers alike, connects the same signals; the project's URLs route
``/healthz``, ``/livez`` and ``/metrics`` to its views. Nothing here imports models at load time:
``logs`` is also loaded by gunicorn's master (deploy/gunicorn.conf.py) before Django is set up.
"""
