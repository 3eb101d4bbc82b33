"""deploy/local-stack as an operator runs it: ``up``, ``smoke``, ``down``, and nothing of it left afterwards.

Checked from outside the stack's own code: every port it chose refuses connections after ``down``
and every process it recorded is gone.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from deploy.local_stack.stack import missing_programs
from tests.conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.stack

SCRIPT = ROOT / "deploy" / "local-stack"
SUMMARY = re.compile(r"smoke: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) not run, of (\d+) steps in [\d.]+ s")
# Steps that may be skipped, and only while their endpoint does not exist yet.
MAY_SKIP = {"metrics", "healthz"}


def local_stack(command: str, folder: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), command, "--dir", str(folder)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHON": sys.executable})


def recorded_pids(folder: Path) -> set[int]:
    return {int(pidfile.read_text().split()[0]) for pidfile in (folder / "pids").glob("*.pid")}


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; its parent may never reap it


def accepts_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_smoke_down_leaves_nothing_running():
    if problems := missing_programs():
        skip_or_fail("; ".join(problems))
    # Not tmp_path: as root, PostgreSQL runs as its own OS user, which must be able to reach the folder.
    folder = Path(tempfile.mkdtemp(prefix="mrmc-stack-test-"))
    pids: set[int] = set()
    try:
        up = local_stack("up", folder, timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        ports = json.loads((folder / "state.json").read_text())["ports"]
        pids |= recorded_pids(folder)
        assert len(pids) == 8, up.stdout
        assert all(accepts_connections(port) for port in ports.values()), ports

        smoke = local_stack("smoke", folder, timeout=600)
        pids |= recorded_pids(folder)  # the worker the smoke test killed was started again
        report = smoke.stdout + smoke.stderr
        summary = SUMMARY.fullmatch(smoke.stdout.strip().splitlines()[-1])
        assert summary, report
        passed, failed, skipped, not_run, steps = map(int, summary.groups())
        assert smoke.returncode == 0 and failed == not_run == 0 and passed + skipped == steps >= 15, report
        skipped_steps = {line.split()[1] for line in smoke.stdout.splitlines() if line.startswith("SKIP")}
        assert skipped_steps <= MAY_SKIP, report
    finally:
        down = local_stack("down", folder, timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert [port for port in ports.values() if accepts_connections(port)] == []
    assert [pid for pid in pids if running(pid)] == []
    shutil.rmtree(folder)
