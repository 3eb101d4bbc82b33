"""MRMC reader-study platform.

The Celery app is imported lazily (see ``mrmc.celery``) so that ``mrmc.stats`` and
``mrmc.dicom`` stay importable without Django or Celery configured.
"""
