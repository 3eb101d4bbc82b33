"""deploy/local-stack as an operator runs it: ``up``, ``smoke``, ``backup``, ``down`` and nothing of it left;
the folder wiped, ``restore`` into a fresh stack, every read, audit event, AI model file and image back;
``down`` again.

Checked from outside the stack's own code: every port it chose refuses connections after ``down``,
every process it recorded is gone, and what comes back is compared with what was there, read from
the database, the model store and through nginx's ``/dicomweb/`` before and after.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests
from psycopg.rows import dict_row

from deploy.local_stack.stack import missing_programs
from tests.conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.stack

SCRIPT = ROOT / "deploy" / "local-stack"
SUMMARY = re.compile(r"smoke: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) not run, of (\d+) steps in [\d.]+ s")
RESTORED = re.compile(r"restore: .*, (\d+) reads, .*, (\d+) audit events, .*, (\d+) images, (\d+) model files, "
                      r"audit head seq (\d+) verified, in [\d.]+ s")
VERIFIED = re.compile(r"backup \S+ intact: (\d+) images, (\d+) model files, audit head seq (\d+), made .*")
# Steps that may be skipped, and only while their endpoint does not exist yet.
MAY_SKIP = {"metrics", "healthz"}
SERVICES = 8
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
INSTANCES = """
SELECT st.study_instance_uid, se.series_instance_uid, i.sop_instance_uid, i.sha256
FROM studies_dicominstance i JOIN studies_dicomseries se ON se.id = i.series_id
JOIN studies_dicomstudy st ON st.id = se.dicom_study_id ORDER BY i.sop_instance_uid
"""


def local_stack(command: str, folder: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), command, *args, "--dir", str(folder)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHON": sys.executable})


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


@dataclass
class StackRun:
    """A stack started by the test, what it recorded, and the check that ``down`` leaves nothing of it."""

    folder: Path
    pids: set[int] = field(default_factory=set)
    down_checked: bool = False

    @property
    def state(self) -> dict:
        return json.loads((self.folder / "state.json").read_text())

    def record_pids(self) -> None:
        self.pids |= {int(pidfile.read_text().split()[0]) for pidfile in (self.folder / "pids").glob("*.pid")}

    def up(self, command: str = "up", *args: str) -> subprocess.CompletedProcess:
        result = local_stack(command, self.folder, *args, timeout=480)
        if (self.folder / "pids").exists():
            self.record_pids()
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(self.pids) == SERVICES, result.stdout
        assert all(accepts_connections(port) for port in self.state["ports"].values()), self.state["ports"]
        return result

    def down_leaves_nothing(self) -> None:
        ports = self.state["ports"]
        self.record_pids()
        down = local_stack("down", self.folder, timeout=300)
        self.down_checked = True
        assert down.returncode == 0, down.stdout + down.stderr
        assert [port for port in ports.values() if accepts_connections(port)] == []
        assert [pid for pid in self.pids if running(pid)] == []

    def remove(self) -> None:
        if not self.down_checked and (self.folder / "state.json").exists():
            local_stack("down", self.folder, timeout=300)
        shutil.rmtree(self.folder, ignore_errors=True)


def new_folder(prefix: str) -> Path:
    # Not tmp_path: as root, PostgreSQL runs as its own OS user, which must be able to reach the folder.
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture(scope="module")
def smoked():
    """A stack brought up and smoke-tested (the smoke's outcome is checked by its own test)."""
    if problems := missing_programs():
        skip_or_fail("; ".join(problems))
    stack = StackRun(new_folder("mrmc-stack-test-"))
    try:
        stack.up()
        smoke = local_stack("smoke", stack.folder, timeout=600)
        stack.record_pids()  # the worker the smoke test killed was started again
        yield stack, smoke
    finally:
        stack.remove()


def test_up_smoke_pass_every_step(smoked):
    _, smoke = smoked
    report = smoke.stdout + smoke.stderr
    summary = SUMMARY.fullmatch(smoke.stdout.strip().splitlines()[-1])
    assert summary, report
    passed, failed, skipped, not_run, steps = map(int, summary.groups())
    assert smoke.returncode == 0 and failed == not_run == 0 and passed + skipped == steps >= 16, report
    skipped_steps = {line.split()[1] for line in smoke.stdout.splitlines() if line.startswith("SKIP")}
    assert skipped_steps <= MAY_SKIP, report


def test_backup_down_wipe_restore_brings_everything_back(smoked):
    original, smoke = smoked
    if smoke.returncode != 0:
        pytest.fail("the smoke test failed (test_up_smoke_pass_every_step says how): no data to back up")
    before = contents(original)
    assert before["reads"] and before["audit"] and before["images"] and before["models"], \
        "the smoke test left nothing to back up"
    assert all(file == sha256 for sha256, (_, file) in before["models"].items()), "a model file not as registered"
    backups = new_folder("mrmc-backup-test-")
    restored = StackRun(new_folder("mrmc-stack-restored-"))
    try:
        backup = local_stack("backup", original.folder, str(backups / "backup"), timeout=300)
        assert backup.returncode == 0, backup.stdout + backup.stderr
        verified = verify_backup(backups / "backup")
        assert list(map(int, verified.groups())) == [len(before["images"]), len(before["models"]),
                                                     before["audit"][-1]["seq"]]
        assert {sha256: model_file_sha256(backups / "backup" / "models", sha256) for sha256 in before["models"]} == {
            sha256: sha256 for sha256 in before["models"]}

        original.down_leaves_nothing()
        shutil.rmtree(original.folder)

        restore = restored.up("restore", str(backups / "backup"))
        summary = next((RESTORED.fullmatch(line) for line in restore.stdout.splitlines() if RESTORED.fullmatch(line)),
                       None)
        assert summary, restore.stdout
        assert list(map(int, summary.groups())) == [len(before["reads"]), len(before["audit"]),
                                                    len(before["images"]), len(before["models"]),
                                                    before["audit"][-1]["seq"]]
        after = contents(restored)
        assert after["reads"] == before["reads"]
        assert after["models"] == before["models"]
        # Then the events of this test's own login and image requests to the restored stack.
        assert after["audit"][:len(before["audit"])] == before["audit"]
        assert after["images"] == before["images"]
        assert "audit trail intact" in verify_audit(restored)
        assert https(restored).get(f"{site(restored)}/healthz", timeout=30).status_code == 200

        restored.down_leaves_nothing()
    finally:
        original.remove()
        restored.remove()
        shutil.rmtree(backups, ignore_errors=True)


# ------------------------------------------------------------------ what a stack holds

def contents(stack: StackRun) -> dict:
    """Every instance the index names with the SHA-256 of the bytes ``/dicomweb/`` serves for it (as the
    platform's admin, through nginx), every registered AI model (whole rows) with the SHA-256 of its file in
    the stack's AI_MODEL_STORAGE, then every read and audit event, whole rows: read last, since the login and
    the image requests are audited too."""
    session = https(stack)
    state = stack.state
    token = session.post(f"{site(stack)}/api/v1/auth/token/", timeout=30,
                         json={"username": "admin", "password": state["secrets"]["admin_password"]})
    assert token.status_code == 200, token.text
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    with database(stack) as connection:
        instances = connection.execute(INSTANCES).fetchall()
    images = {}
    for row in instances:
        path = "/dicomweb/studies/{study_instance_uid}/series/{series_instance_uid}/instances/{sop_instance_uid}"
        response = session.get(site(stack) + path.format(**row), headers={"Accept": AS_STORED}, timeout=60)
        assert response.status_code == 200, response.text[:300]
        (part,) = multipart_parts(response.content, response.headers["Content-Type"])
        images[row["sop_instance_uid"]] = (row["sha256"], hashlib.sha256(part).hexdigest())
    with database(stack) as connection:
        models = connection.execute("SELECT * FROM studies_aimodel ORDER BY id").fetchall()
        reads = connection.execute("SELECT * FROM studies_read ORDER BY id").fetchall()
        audit = connection.execute("SELECT * FROM studies_auditevent ORDER BY seq").fetchall()
    store = Path(app_env(stack)["AI_MODEL_STORAGE"])
    return {"reads": reads, "audit": audit, "images": images,
            "models": {row["sha256"]: (row, model_file_sha256(store, row["sha256"])) for row in models}}


def model_file_sha256(store: Path, sha256: str) -> str | None:
    """The SHA-256 of the bytes of the model file named ``sha256`` in ``store`` (``ab/cd/<sha256>.onnx``), or
    None where there is none."""
    path = store / sha256[:2] / sha256[2:4] / f"{sha256}.onnx"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def database(stack: StackRun) -> psycopg.Connection:
    return psycopg.connect(f"postgres://postgres@127.0.0.1:{stack.state['ports']['postgres']}/mrmc",
                           row_factory=dict_row)


def multipart_parts(body: bytes, content_type: str) -> list[bytes]:
    """The bodies of a multipart/related response's parts (RFC 2046 5.1)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary)[1:-1]  # before the first: preamble; the last: "--"
    return [section.split(b"\r\n\r\n", 1)[1] for section in sections]


def site(stack: StackRun) -> str:
    return f"https://localhost:{stack.state['ports']['https']}"


def https(stack: StackRun) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.folder / "tls" / "ca.pem")
    return session


def app_env(stack: StackRun) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (stack.folder / "app.env").read_text().splitlines() if line)


def verify_audit(stack: StackRun) -> str:
    result = subprocess.run([sys.executable, "manage.py", "verify_audit"], cwd=ROOT, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], **app_env(stack), "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def verify_backup(folder: Path) -> re.Match:
    """``python -m deploy.backup verify``, which reads nothing but the folder."""
    result = subprocess.run([sys.executable, "-m", "deploy.backup", "verify", str(folder)], cwd=ROOT,
                            capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    verified = VERIFIED.fullmatch(result.stdout.strip())
    assert verified, result.stdout
    return verified
