"""What the browser benchmarks share: the demo study behind the real server in a throw-away folder, and reader1's
first session (bench_viewer.py, bench_first_image.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing


def missing_prerequisite() -> str | None:
    """Why the browser benchmarks cannot run here, or None."""
    from tests.e2e.server import CHROMIUM

    if not (ROOT / "viewer_static/dist/.vite/manifest.json").exists():
        return "The viewer is not built: run `make viewer` first."
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)."
    return None


@contextlib.contextmanager
def demo_server(*, n_cases: int, size: int, prefix: str):
    """The server (tests.e2e.server.ServerProcess) of a fresh demo study of ``n_cases`` size x size DX cases."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    env = {
        "MRMC_DATA_DIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "tests.e2e.server_settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from studies.services.demo import seed_demo
    from tests.e2e.server import ServerProcess, database_url

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    seed_demo(n_cases=n_cases, image_shape=(size, size))
    env["DATABASE_URL"] = database_url(connection.settings_dict)
    connection.close()
    print(f"Demo study with {n_cases} cases of {size}x{size} 16-bit DX set up in {time.perf_counter() - t0:.1f} s")
    server = ServerProcess(env, log_path=workdir / "server.log").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def reader_session(page, base_url: str) -> tuple[int, dict]:
    """Log ``page`` in as reader1; the id and the API payload of their first session."""
    from studies.services.demo import demo_password

    page.goto(f"{base_url}/accounts/login/?next=/read/")
    page.fill("#id_username", "reader1")
    page.fill("#id_password", demo_password("reader1"))
    page.click("input[type=submit]")
    page.wait_for_url("**/read/")
    session_id = int(page.locator("article.session").first.get_attribute("data-session"))
    return session_id, page.evaluate(f"fetch('/api/v1/sessions/{session_id}/').then(r => r.json())")
