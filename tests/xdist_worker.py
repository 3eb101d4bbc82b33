"""Each pytest-xdist worker (``make test`` runs two) gets its own data folder, loaded with ``-p`` so that
it is in place before Django reads its settings: what one worker writes there (images, the frame cache,
the audit anchors, mail) is never seen by the other. Each worker's Redis database: ``broker_url``."""

import os
from pathlib import Path

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...; empty without xdist


def worker_number() -> int:
    return int(WORKER.removeprefix("gw")) if WORKER else 0


def broker_url(url: str) -> str:
    """``url``'s Redis database moved along by the worker's number (of 16), so that a Celery worker a
    test starts never takes a task another xdist worker queued for its own test database."""
    head, _, database = url.rpartition("/")
    if not database.isdigit():
        return url
    return f"{head}/{(int(database) + worker_number()) % 16}"


if WORKER:
    root = Path(os.environ.get("MRMC_DATA_DIR") or Path(__file__).resolve().parents[1] / "data")
    os.environ["MRMC_DATA_DIR"] = str(root / f"xdist-{WORKER}")
    Path(os.environ["MRMC_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
