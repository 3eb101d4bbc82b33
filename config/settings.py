"""Settings, all read from the environment (see README "Configuration").

Nothing set gives a laptop setup: SQLite under ``data/``, Celery tasks run in-process,
DICOM files under ``data/dicom``, a de-identification key derived from the secret key. Production
(``DJANGO_DEBUG=0``) fails closed: it refuses to start, naming everything missing at once, without
``SECRET_KEY``, ``ALLOWED_HOSTS``, a PostgreSQL ``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``DEID_KEY``
(see ``production_problems`` and deploy/README.md, "Configuration").
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key
from kombu import Queue

from mrmc.dicom.archive import ArchiveLimits
from mrmc.dicom.limits import DicomLimits
from studies.observability.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(environ.Env().str("MRMC_DATA_DIR", default=str(BASE_DIR / "data")))

env = environ.Env(
    DJANGO_DEBUG=(bool, True),
    ALLOWED_HOSTS=(list, []),
    DICOMWEB_UPSTREAM=(str, ""),
    CELERY_BROKER_URL=(str, ""),
)

DEBUG = env("DJANGO_DEBUG")


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key or not DEBUG:  # production without one: refused below with everything else missing
        return key
    # Development only: a key kept in the data folder so sessions survive restarts.
    key_file = DATA_DIR / "dev_secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(get_random_secret_key())
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Rotation: the new key signs, the old ones still verify sessions and reset links until removed.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env("ALLOWED_HOSTS") or (["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "studies",
    "studies.observability",
]

MIDDLEWARE = [
    "studies.observability.middleware.RequestObservabilityMiddleware",  # first: times and logs everything
    "django.middleware.security.SecurityMiddleware",
    "studies.middleware.ServiceUnavailableMiddleware",  # outside the rest: sees their errors too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "studies.security.IdleSessionMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "studies.security.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
    "studies.middleware.AuditContextMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a Celery worker in another process sees the test database.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(DATA_DIR / "test_db.sqlite3")
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # Writers take the write lock when their transaction begins: the audit chain appends to the
    # head it read, and two deferred writers would otherwise deadlock on the upgrade.
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

# --- Persistent database connections in production (benchmarks/load_readers.py) ---------------
# A connection per request makes PostgreSQL fork a backend that reloads its catalog caches: two
# thirds of the database's CPU per read under load. Kept DATABASE_CONN_MAX_AGE seconds and checked
# when a request first uses it, so a restarted database costs no failed request once it is back.
# Not under the development server, which makes a thread (and so a connection) per request.
if not DEBUG and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "studies.User"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
VIEWER_DIST = BASE_DIR / "viewer_static" / "dist"
STATICFILES_DIRS = [("viewer", VIEWER_DIST)] if VIEWER_DIST.exists() else []
# The OHIF Viewer, a third-party DICOMweb viewer, under /ohif/ when this names its dist as
# deploy/fetch_ohif.py prepares it (`make ohif`); empty: not served.
OHIF_DIST = env.str("OHIF_DIST", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Vite content-hashes the viewer's worker and WASM files: they may be cached for ever too.
WHITENOISE_IMMUTABLE_FILE_TEST = r"/static/.+[.-][0-9A-Za-z_-]{8,12}\.\w+$"

DICOM_STORAGE = Path(env.str("DICOM_STORAGE", default=str(DATA_DIR / "dicom")))
# Registered AI model files, by SHA-256: every worker that computes AI outputs reads them.
AI_MODEL_STORAGE = Path(env.str("AI_MODEL_STORAGE", default=str(DICOM_STORAGE / "models")))
AI_MODEL_MAX_BYTES = env.int("AI_MODEL_MAX_BYTES", default=1024 ** 3)
# Cases per task of a precompute job: each task loads the model once, and any worker may take it.
AI_PRECOMPUTE_CASES_PER_CHUNK = env.int("AI_PRECOMPUTE_CASES_PER_CHUNK", default=16)
# WADO-RS frames transcoded into another transfer syntax (studies.services.frame_cache), by content:
# every web process that mounts the folder shares them; the least recently used go past the bound.
FRAME_CACHE_DIR = Path(env.str("FRAME_CACHE_DIR", default=str(DICOM_STORAGE / "frame-cache")))
FRAME_CACHE_MAX_BYTES = env.int("FRAME_CACHE_MAX_BYTES", default=4 * 1024 ** 3)
DICOMWEB_UPSTREAM = env("DICOMWEB_UPSTREAM")
# Secret of the PS3.15 UID mapping and date shift; changing it changes every de-identified UID,
# so production requires it explicitly: derived from SECRET_KEY, rotating the secret key would give
# images ingested afterwards other UIDs and date shifts. Each study derives its own key from it.
DEID_KEY = env.str("DEID_KEY", default="") or (f"deid:{SECRET_KEY}" if DEBUG else "")

# --- Image modes (deploy/README.md, "Image modes"): where images live and who de-identified them --
# local: de-identified on ingest into DICOM_STORAGE. archive: de-identified on ingest and stored by
# STOW-RS in the platform's own DICOMweb archive (DICOMWEB_ARCHIVE_URL), served from it through our
# authorization. upstream: served from an external archive (DICOMWEB_UPSTREAM) that the operator
# attests holds only de-identified images; each instance must also say so (mrmc.dicom.release).
IMAGE_MODE = env.str("IMAGE_MODE", default="local")
DICOMWEB_ARCHIVE_URL = env.str("DICOMWEB_ARCHIVE_URL", default="")
DICOMWEB_UPSTREAM_DEIDENTIFIED = env.bool("DICOMWEB_UPSTREAM_DEIDENTIFIED", default=False)
_IMAGE_MODE_NEEDS = {
    "local": (not DICOMWEB_UPSTREAM, "no DICOMWEB_UPSTREAM (serving a PACS is IMAGE_MODE=upstream)"),
    "archive": (DICOMWEB_ARCHIVE_URL and not DICOMWEB_UPSTREAM, "DICOMWEB_ARCHIVE_URL and no DICOMWEB_UPSTREAM"),
    "upstream": (DICOMWEB_UPSTREAM and DICOMWEB_UPSTREAM_DEIDENTIFIED,
                 "DICOMWEB_UPSTREAM and DICOMWEB_UPSTREAM_DEIDENTIFIED=1, the attestation that it holds only "
                 "de-identified images (a PACS of identified images is imported in IMAGE_MODE=archive instead)"),
}
if IMAGE_MODE not in _IMAGE_MODE_NEEDS or not _IMAGE_MODE_NEEDS[IMAGE_MODE][0]:
    raise ImproperlyConfigured(f"IMAGE_MODE={IMAGE_MODE} " + (f"needs {_IMAGE_MODE_NEEDS[IMAGE_MODE][1]}"
                               if IMAGE_MODE in _IMAGE_MODE_NEEDS else "is not one of local, archive, upstream"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: unauthenticated API calls get 401 with a WWW-Authenticate header.
        "studies.security.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 200,
    "EXCEPTION_HANDLER": "studies.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MRMC reader-study API",
    "DESCRIPTION": "Studies, schedules, worklists, reads and progress of MRMC reader studies.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set: several models have a "status", and the rating scale appears under two names.
    "ENUM_NAME_OVERRIDES": {
        "StudyStatusEnum": "studies.models.study.StudyStatus",
        "AnalysisRunStatusEnum": "studies.models.analysis.AnalysisRunStatus",
        "RatingScaleEnum": "studies.models.study.StudyScale",
        "StudyDesignEnum": "studies.models.study.StudyDesign",
        "PlannedDesignEnum": "mrmc.stats.power_sim.DESIGNS",  # power plans: the study designs and more
        "DeviationKindEnum": "studies.models.deviations.DeviationKind",
        "DeviationSourceEnum": "studies.models.deviations.DeviationSource",
        "AIOutputSourceEnum": "studies.models.study.AIOutputSource",
    },
}

# Celery: without a broker, tasks run in-process (eagerly) so the laptop needs no Redis; production
# requires a broker (tasks run inside web requests would hold a gunicorn worker for minutes).
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1


# --- Fail closed in production: every missing item named at once ------------------------------
def production_problems() -> list[str]:
    """What a production process (``DJANGO_DEBUG=0``) lacks, each with what to set."""
    wanted = {
        "SECRET_KEY": (bool(SECRET_KEY), "a long random string (signs sessions and tokens)"),
        "ALLOWED_HOSTS": (bool(ALLOWED_HOSTS), "the host names this site answers to"),
        "DATABASE_URL": (
            DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3",
            "a PostgreSQL database, postgres://user:password@host:5432/mrmc (SQLite is for one laptop)",
        ),
        "CELERY_BROKER_URL": (bool(CELERY_BROKER_URL), "the Celery broker, e.g. redis://host:6379/0"),
        "DEID_KEY": (bool(DEID_KEY), "the de-identification secret, kept for the life of the studies"),
    }
    return [f"{name}: {meaning}" for name, (present, meaning) in wanted.items() if not present]


if not DEBUG and (_missing := production_problems()):
    raise ImproperlyConfigured(
        "DJANGO_DEBUG=0 (production) refuses to start without:\n  " + "\n  ".join(_missing)
        + "\n(deploy/README.md, \"Configuration\")"
    )

# --- Ingest limits and lost jobs (studies.services.ingest, studies.services.jobs) --------------
# Every limit is checked while reading. The defaults (mrmc.dicom.limits, mrmc.dicom.archive) keep a
# worker under 512 MiB whatever it is sent; raising the file and pixel limits raises that bound.
_DICOM_LIMITS, _ARCHIVE_LIMITS = DicomLimits(), ArchiveLimits()
INGEST_MAX_UPLOAD_BYTES = env.int("INGEST_MAX_UPLOAD_BYTES", default=4 << 30)  # one upload request, all files
INGEST_MAX_FILE_BYTES = env.int("INGEST_MAX_FILE_BYTES", default=_DICOM_LIMITS.max_file_bytes)  # or archive member
INGEST_MAX_INFLATED_BYTES = env.int("INGEST_MAX_INFLATED_BYTES", default=_DICOM_LIMITS.max_inflated_bytes)
INGEST_MAX_ELEMENT_BYTES = env.int("INGEST_MAX_ELEMENT_BYTES", default=_DICOM_LIMITS.max_element_bytes)
INGEST_MAX_ELEMENTS = env.int("INGEST_MAX_ELEMENTS", default=_DICOM_LIMITS.max_elements)
INGEST_MAX_SEQUENCE_DEPTH = env.int("INGEST_MAX_SEQUENCE_DEPTH", default=_DICOM_LIMITS.max_sequence_depth)
INGEST_MAX_PIXEL_VALUES = env.int("INGEST_MAX_PIXEL_VALUES", default=_DICOM_LIMITS.max_pixel_values)
INGEST_MAX_ARCHIVE_MEMBERS = env.int("INGEST_MAX_ARCHIVE_MEMBERS", default=_ARCHIVE_LIMITS.max_members)
INGEST_MAX_ARCHIVE_BYTES = env.int("INGEST_MAX_ARCHIVE_BYTES", default=_ARCHIVE_LIMITS.max_total_bytes)
# Chunked, resumable uploads from the browser (studies.services.uploads): one chunk per request, one file
# per upload; the volume of DICOM_STORAGE keeps UPLOAD_MIN_FREE_BYTES free besides what unfinished uploads
# still need; an upload without a chunk for UPLOAD_ABANDONED_AFTER_H hours is swept.
UPLOAD_CHUNK_MAX_BYTES = env.int("UPLOAD_CHUNK_MAX_BYTES", default=8 << 20)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 << 30)
UPLOAD_MAX_ACTIVE = env.int("UPLOAD_MAX_ACTIVE", default=8)  # unfinished uploads per user and study
UPLOAD_MIN_FREE_BYTES = env.int("UPLOAD_MIN_FREE_BYTES", default=2 << 30)
UPLOAD_ABANDONED_AFTER_H = env.float("UPLOAD_ABANDONED_AFTER_H", default=24.0)
# A running job whose worker died: redelivered at once by a prefork worker (its child was lost),
# otherwise found by the sweep when its worker process is gone or its heartbeat (every 10 s) is this old.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
JOB_LOST_AFTER_S = env.int("JOB_LOST_AFTER_S", default=120)
# A job fanned out in chunks (studies.services.jobs.FanOut) beats only while a chunk runs: chunks
# waiting in a queue behind other work must not make it look lost.
JOB_CHUNKS_LOST_AFTER_S = env.int("JOB_CHUNKS_LOST_AFTER_S", default=1800)
# A job still queued this long after its task was published has it published again by the sweep (the
# message may be lost with a wiped broker, or by a database restore); a duplicate does nothing.
JOB_QUEUED_REPUBLISH_AFTER_S = env.int("JOB_QUEUED_REPUBLISH_AFTER_S", default=600)
# The queues jobs are published to (studies.services.jobs.QUEUE_OF_KIND); a worker consumes those
# given to it with -Q, every one of them by default.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_WORK_QUEUES = ("celery", "ingest", "analysis", "precompute")
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in CELERY_WORK_QUEUES)
CELERY_BEAT_SCHEDULE = {
    "sweep-lost-jobs": {"task": "studies.sweep_lost_jobs", "schedule": env.int("JOB_SWEEP_EVERY_S", default=60)},
    "sweep-uploads": {"task": "studies.sweep_uploads", "schedule": env.int("UPLOAD_SWEEP_EVERY_S", default=3600)},
    # files previewed on the console and never stored go after 6 hours (studies.console.staged.KEPT_S)
    "sweep-console-staging": {"task": "studies.sweep_console_staging", "schedule": 3600},
}

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Authentication, sessions and security headers --------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out username is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2 for new and changed passwords; older hashes still verify and are rehashed at login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Mail (reader invitations): printed to the console in development; in production the SMTP server of
# EMAIL_HOST (or another backend named by EMAIL_BACKEND). Invitation links stop working once the
# password is set, on a newer invitation, and after READER_INVITE_DAYS.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend" if DEBUG
                        else "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MRMC reader studies <noreply@localhost>")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(DATA_DIR / "mail"))  # the file backend's folder
READER_INVITE_DAYS = env.int("READER_INVITE_DAYS", default=7)

# Lockout (django-axes) on every path that checks a password: login page, admin, API token.
# Counted per username, not per address: readers share one address behind a hospital proxy.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 asks for the address in the lockout key against attempts that rotate user agents or
# cookies; a per-username count is not reset by those, and an address lock would lock out every
# reader behind one hospital proxy together.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True  # "in a row": a successful login clears the count
# The lockout lasts the cool-off from the failure that caused it; attempts during it are refused
# without extending it, so a user is never locked out longer than the stated time per attack burst.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "studies.security.lockout_response"
AXES_VERBOSE = False
# The address recorded with each attempt: the peer's, or with BEHIND_PROXY the X-Forwarded-For that
# deploy/nginx.conf sets (replacing any the client sent), so a client cannot write its own.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
AXES_IPWARE_META_PRECEDENCE_ORDER = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if BEHIND_PROXY else ["REMOTE_ADDR"]
# The host and port that absolute URLs (DICOMweb RetrieveURL, BulkDataURI) are built with: the
# request's Host, or with these the X-Forwarded-Host / X-Forwarded-Port a proxy sets (trust them only
# when the proxy replaces any the client sent). X-Forwarded-Proto counts as SECURE_PROXY_SSL_HEADER says.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
USE_X_FORWARDED_PORT = env.bool("USE_X_FORWARDED_PORT", default=False)

# API tokens (django-rest-knox): stored hashed, expire, revoked at logout.
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("API_TOKEN_HOURS", default=10)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

# Sessions: gone when the browser closes, after an idle time (readers shorter than staff), and
# at the latest SESSION_COOKIE_AGE after login (studies.security.IdleSessionMiddleware).
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = env.int("SESSION_MAX_HOURS", default=12) * 3600
SESSION_IDLE_SECONDS = {
    "reader": env.int("READER_IDLE_MINUTES", default=30) * 60,
    "staff": env.int("STAFF_IDLE_MINUTES", default=60) * 60,
}

# Two-factor (django-otp, TOTP): optional for coordinators, statisticians and admins; with
# REQUIRE_2FA_FOR_STAFF they must enroll before anything else. Readers are never asked.
REQUIRE_2FA_FOR_STAFF = env.bool("REQUIRE_2FA_FOR_STAFF", default=False)
OTP_TOTP_ISSUER = env.str("OTP_ISSUER", default="MRMC reader studies")

# Content-Security-Policy (django-csp), the same as deploy/nginx.conf. The reading workstation
# compiles WebAssembly codecs, runs module workers (some from blob: URLs) and draws blob:/data:
# images; no inline script anywhere. Styles allow inline: Cornerstone and the API docs set them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}


def _static_file_headers(headers, path, url):
    from studies.security import static_file_headers  # imported when called: apps load after settings

    static_file_headers(headers, path, url)


WHITENOISE_ADD_HEADERS_FUNCTION = _static_file_headers

if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$", r"^metrics$"]  # probes and scrapers speak plain HTTP
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# --- Request limits and unavailable dependencies (studies/api/parsers.py, studies/middleware.py) ---
# Bodies of JSON and form requests (file parts of uploads are streamed to disk and limited apart).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY_BYTES", default=2_621_440)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("MAX_REQUEST_FIELDS", default=1000)
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
# Truth and AI-output files are read whole into memory to be checked before anything is stored.
IMPORT_FILE_MAX_BYTES = env.int("IMPORT_FILE_MAX_BYTES", default=64 * 2**20)
REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"] = "studies.api.pagination.BoundedLimitOffsetPagination"
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "studies.api.parsers.LimitedJSONParser",
    "studies.api.parsers.LimitedFormParser",
    "rest_framework.parsers.MultiPartParser",
]
# A database or broker that cannot be reached answers 503 with this Retry-After (seconds).
RETRY_AFTER_SECONDS = env.int("RETRY_AFTER_SECONDS", default=5)
# A dead broker fails a request within about a second instead of kombu retrying for minutes.
# Results are never read (each Job row holds its outcome), so no result-store round trip either.
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

# --- Operations: logs, metrics, health (studies/observability, deploy/README.md) --------------------
# One JSON object per line in production (for a log shipper), a line of text in development; both
# carry the request id and pass through the filter that takes patient data and secrets out.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# /metrics answers these networks (the peer address; behind the proxy, the address nginx forwards) or
# a request with "Authorization: Bearer METRICS_TOKEN"; anyone else gets 404.
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Queues whose length /metrics reports and that /healthz wants a worker on; empty: the default queue
# and every queue CELERY_TASK_ROUTES and CELERY_TASK_QUEUES name.
CELERY_QUEUES_WATCHED = env.list("CELERY_QUEUES_WATCHED", default=[])
WORKER_HEARTBEAT_S = env.int("WORKER_HEARTBEAT_S", default=10)  # a worker is gone after 3 missed beats
HEALTH_TIMEOUT_S = env.float("HEALTH_TIMEOUT_S", default=2.0)  # how long /healthz waits for a DICOMweb archive

# ---------------------------------------------------------------- audit trail (hash chain, roles)
# The head of the audit chain is appended to this file every AUDIT_ANCHOR_EVERY events, after
# each analysis run, by ``manage.py anchor_audit`` and by Celery beat (AUDIT_ANCHOR_INTERVAL_S);
# keep it on storage the database's administrators cannot rewrite (or ship the
# ``mrmc.audit.anchor`` log lines elsewhere). ``manage.py verify_audit`` checks the chain against it.
AUDIT_ANCHOR_FILE = Path(env.str("AUDIT_ANCHOR_FILE", default=str(DATA_DIR / "audit-anchors.jsonl")))
AUDIT_ANCHOR_EVERY = env.int("AUDIT_ANCHOR_EVERY", default=1000)
CELERY_BEAT_SCHEDULE["anchor-audit-chain"] = {
    "task": "studies.anchor_audit", "schedule": env.float("AUDIT_ANCHOR_INTERVAL_S", default=300.0),
}
# PostgreSQL role the application runs as (DML only; SELECT and INSERT on the audit table).
# ``manage.py grant_app_role``, run as the tables' owner, creates it; every ``migrate`` run as the
# owner grants it the new tables. Empty: no role management (laptop, tests).
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="")

# --- Monitoring and session reminders (studies.services.monitoring, studies.services.reminders) -------
# The dashboard flags reads faster than MONITOR_READ_TOO_FAST_S (too fast to be a real read) or slower
# than MONITOR_READ_TOO_LONG_S, and readers who, after MONITOR_SCALE_MIN_READS reads, use fewer than
# MONITOR_SCALE_MIN_CATEGORIES categories of an ordinal scale or less than MONITOR_SCALE_MIN_RANGE of a
# continuous one; it lists sessions opening within MONITOR_OPENING_SOON_DAYS and those open for more than
# MONITOR_OVERDUE_DAYS.
MONITOR_READ_TOO_FAST_S = env.float("MONITOR_READ_TOO_FAST_S", default=5.0)
MONITOR_READ_TOO_LONG_S = env.float("MONITOR_READ_TOO_LONG_S", default=1800.0)
MONITOR_SCALE_MIN_CATEGORIES = env.int("MONITOR_SCALE_MIN_CATEGORIES", default=3)
MONITOR_SCALE_MIN_RANGE = env.float("MONITOR_SCALE_MIN_RANGE", default=0.5)
MONITOR_SCALE_MIN_READS = env.int("MONITOR_SCALE_MIN_READS", default=10)
MONITOR_OPENING_SOON_DAYS = env.int("MONITOR_OPENING_SOON_DAYS", default=7)
MONITOR_OVERDUE_DAYS = env.int("MONITOR_OVERDUE_DAYS", default=14)
# A reader is e-mailed once when a session opens: beat looks every SESSION_REMINDERS_EVERY_S. The mail
# links to SITE_URL/read/ (the address readers use, e.g. https://reader-study.example.org); empty: no link.
SITE_URL = env.str("SITE_URL", default="")
CELERY_BEAT_SCHEDULE["session-reminders"] = {
    "task": "studies.send_session_reminders", "schedule": env.int("SESSION_REMINDERS_EVERY_S", default=900),
}
# Protocol deviations of the studies being read (late sessions, shortened washouts, ...) are looked for every
# DEVIATIONS_DETECT_EVERY_S (studies.services.deviations); a coordinator may also ask at any time.
CELERY_BEAT_SCHEDULE["detect-deviations"] = {
    "task": "studies.detect_deviations", "schedule": env.int("DEVIATIONS_DETECT_EVERY_S", default=3600),
}
# Monitored deployments with new field records get their windows, charts and alarms (e-mailed to the rules'
# recipients) every FIELD_MONITORING_EVERY_S (studies.services.field_monitoring_windows).
CELERY_BEAT_SCHEDULE["field-monitoring"] = {
    "task": "studies.compute_field_monitoring", "schedule": env.int("FIELD_MONITORING_EVERY_S", default=300),
}
