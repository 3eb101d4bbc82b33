"""Log records as one JSON object per line (production) or one line of text (development), with the
request or task they belong to, and with patient data and secrets taken out.

Wired by ``LOGGING`` in config/settings.py (``LOG_FORMAT``) and by deploy/gunicorn.conf.py for
gunicorn's own messages. Imports nothing of Django at load time (gunicorn's master loads it).
"""

import json
import logging
import re
from datetime import UTC, datetime

from . import context

# What may identify a patient or open the site, found by its shape wherever it is in a message or a
# traceback: a pydicom element or data set ``(0010,0010) Patient's Name  PN: 'DOE^JANE'``, a DICOM
# keyword given a value (``PatientID=123``, a QIDO-RS query), any query string, a DICOM UID (the
# PACS's own UIDs identify a study, PS3.15 Annex E; the standard's 1.2.840.10008 UIDs are kept),
# credentials in a URL, and Authorization header values.
REDACTIONS = (
    (re.compile(r"(\([0-9A-Fa-f]{4}, ?[0-9A-Fa-f]{4}\)[^:\n]*?\b[A-Z]{2}: ).*"), r"\1[redacted]"),
    (re.compile(r"\b((?:Patient|OtherPatient|IssuerOfPatient|ReferringPhysician|PerformingPhysician|OperatorsName"
                r"|Institution|Accession)\w*)(['\"]?\s*[=:]\s*)[^\s,;&)}\]]+"), r"\1\2[redacted]"),
    (re.compile(r"(/[^\s?\"']*)\?[^\s\"']*"), r"\1?[redacted]"),
    (re.compile(r"(?<![\w.])(?!1\.2\.840\.10008\.)[0-2](?:\.(?:0|[1-9][0-9]*)){2,}(?![\w.])"), "[uid]"),
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1[redacted]@"),
    (re.compile(r"\b(Token|Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [redacted]"),
)
SECRET_SETTINGS = ("SECRET_KEY", "DEID_KEY", "METRICS_TOKEN")  # and the database passwords


def redact(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    for secret in _configured_secrets():
        text = text.replace(secret, "[secret]")
    return text


def _configured_secrets() -> list[str]:
    from django.conf import settings  # a process without Django settings (gunicorn's master) has none

    if not settings.configured:
        return []
    values = [getattr(settings, name, "") for name in SECRET_SETTINGS]
    values += [database.get("PASSWORD") for database in settings.DATABASES.values()]
    return [value for value in values if value and len(value) >= 8]  # a short one would redact ordinary words


class RedactFilter(logging.Filter):
    """Rewrites the record's message and traceback through :func:`redact`; formatters see only the result."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Adds the request id, user id and route of the request being served, or the task being run."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = context.current()
        # Django logs 4xx and 5xx answers once the middleware is done: their record brings the request.
        request = scope.request if scope else getattr(record, "request", None)
        if not hasattr(request, "request_id"):  # not one that went through the middleware
            request = None
        record.request_id = scope.request_id if scope else getattr(request, "request_id", None)
        record.task = scope.task if scope else None
        record.task_id = scope.task_id if scope else None
        record.route = getattr(record, "route", None) or (context.route_of(request) if request else None)
        record.user_id = getattr(record, "user_id", None) or (context.user_id_of(request) if request else None)
        return True


# Fields a record may carry (from ContextFilter or the request log's ``extra``), in output order.
FIELDS = ("request_id", "user_id", "route", "method", "status", "duration_ms", "task", "task_id")


class JsonFormatter(logging.Formatter):
    """``{"timestamp", "level", "logger", "message", ...FIELDS that are set, "exception"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update({name: value for name in FIELDS if (value := getattr(record, name, None)) is not None})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = record.stack_info
        return json.dumps(document, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` for a terminal."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(scope)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        scope = getattr(record, "request_id", None) or getattr(record, "task_id", None)
        record.scope = f" [{scope}]" if scope else ""
        return super().format(record)


def logging_config(*, log_format: str, level: str) -> dict:
    """``LOGGING`` for Django (and for gunicorn, whose loggers it names): one stderr handler."""
    formatter = {"json": JsonFormatter, "text": TextFormatter}[log_format]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter},
            "redact": {"()": RedactFilter},
        },
        "formatters": {"default": {"()": formatter}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context", "redact"],
            },
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own handlers (its console in DEBUG, the development server's request lines with
            # raw paths and queries) are replaced: everything goes through the one handler above.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": "WARNING", "propagate": True},
            # gunicorn's messages in the same format, at its own --log-level; its access log stays off
            # (deploy/gunicorn.conf.py): the request log (mrmc.request) names routes, not raw paths.
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
        },
    }
