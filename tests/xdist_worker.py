"""Each pytest-xdist worker (``make test`` runs two) gets its own data folder and Redis database, set
here, a plugin loaded with ``-p``, before Django reads its settings: what one worker writes (images, the
frame cache, the audit anchors, mail) is never seen by the other, and a Celery worker a test starts never
takes a task the other queued for its own test database."""

import os
from pathlib import Path

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...; empty without xdist
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/15"  # the tests' broker where none is configured


def own_database(url: str) -> str:
    """``url``'s Redis database moved along by the worker's number (of 16)."""
    head, _, database = url.rpartition("/")
    if not WORKER or not database.isdigit():
        return url
    return f"{head}/{(int(database) + int(WORKER.removeprefix('gw'))) % 16}"


if WORKER:
    root = Path(os.environ.get("MRMC_DATA_DIR") or Path(__file__).resolve().parents[1] / "data")
    os.environ["MRMC_DATA_DIR"] = str(root / f"xdist-{WORKER}")
    Path(os.environ["MRMC_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if os.environ.get("CELERY_BROKER_URL"):  # the settings' broker too, not only the tests' workers'
        os.environ["CELERY_BROKER_URL"] = own_database(os.environ["CELERY_BROKER_URL"])

BROKER_URL = os.environ.get("CELERY_BROKER_URL") or own_database(DEFAULT_BROKER_URL)
