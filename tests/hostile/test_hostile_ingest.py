"""Every hostile file through ``manage.py import_dicom`` and through the upload API with a real worker.

For each file: the expected outcome and reason class in the report, nothing partially stored
(index rows and content-store files match what the report says was stored), the worker's or
the command's peak memory under 512 MiB, no job left running and no staged file left behind.
"""

import hashlib
import os
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from studies.models import DicomInstance, Job
from studies.services.staging import staging_root
from tests.conftest import ROOT, _test_database_url, wait_for_job
from tests.hostile.corpus import HostileCase
from tests.peak_memory import command_reporting_peak, peak_memory

pytestmark = pytest.mark.integration

MEMORY_LIMIT = 512 * 1024 * 1024
REPORT_LINE = re.compile(r"^  (conflict|rejected) (.+?) \[([\w-]+)\]: (.*)$")
FILES_LINE = re.compile(r"^(\d+) files: (\d+) instances stored, (\d+) already present")


@pytest.fixture
def study(make_study):
    return make_study(n_readers=1, n_cases=2, status="draft")


def belongs_to(case: HostileCase, file: str) -> bool:
    """A report names a file by its own name, an archive member as ``archive:member``."""
    return file == case.name or file.startswith(f"{case.name}:")


def check_problems(case: HostileCase, problems: list[tuple[str, str, str]]) -> None:
    """``problems`` are the (outcome, kind, reason) reported for the case's file or members."""
    if case.outcome in ("stored", "duplicate"):
        assert problems == [], case.name
        return
    assert problems, f"{case.name}: nothing reported"
    assert {(outcome, kind) for outcome, kind, _ in problems} == {(case.outcome, case.kind)}, (case.name, problems[:3])


def check_store(store: Path, expected_instances: int, *, killed_mid_ingest: bool = False) -> None:
    """Nothing half-stored: one file per index row, one row per file, and no staging left.

    An ingest killed between storing an instance and indexing it (the store comes first) may leave one
    whole file no row names yet: the next import of that file indexes it.
    """
    files = {path.stem for path in store.rglob("*.dcm")} if store.exists() else set()
    rows = set(DicomInstance.objects.values_list("sha256", flat=True))
    assert DicomInstance.objects.count() == expected_instances
    unindexed = files - rows
    assert rows <= files and len(unindexed) <= (1 if killed_mid_ingest else 0), (rows - files, unindexed)
    for name in unindexed:  # whole: its name is the SHA-256 of its bytes
        assert hashlib.sha256(next(store.rglob(f"{name}.dcm")).read_bytes()).hexdigest() == name
    assert not any(store.rglob(".incoming-*"))
    assert not staging_root().exists() or not any(staging_root().iterdir())


def test_every_hostile_file_through_import_dicom(transactional_db, hostile_corpus, study, coordinator, store, tmp_path,
                                                 capsys):
    report = tmp_path / "report.txt"
    env = {**os.environ, "DATABASE_URL": _test_database_url(), "DICOM_STORAGE": str(store)}
    peak_report = tmp_path / "peak.txt"
    command = command_reporting_peak(peak_report, "manage.py", "import_dicom", "--study", str(study.pk),
                                     "--user", coordinator.username, *(str(case.path) for case in hostile_corpus))
    started = time.monotonic()
    errors = tmp_path / "errors.txt"
    with report.open("w") as out, errors.open("w") as err:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        status = process.wait()
    elapsed = time.monotonic() - started
    lines = report.read_text().splitlines()
    assert status == 0, errors.read_text()[-3000:]
    totals = FILES_LINE.match(lines[0])
    assert totals, lines[:3]
    problems = [REPORT_LINE.match(line).groups() for line in lines[1:] if REPORT_LINE.match(line)]
    for case in hostile_corpus:
        check_problems(case, [(outcome, kind, reason) for outcome, file, kind, reason in problems
                              if belongs_to(case, file)])
    assert all(any(belongs_to(case, p[1]) for case in hostile_corpus) for p in problems)
    outcomes = Counter(case.outcome for case in hostile_corpus)
    files, stored, duplicates = map(int, totals.groups())
    assert (stored, duplicates) == (outcomes["stored"], outcomes["duplicate"])
    assert files == stored + duplicates + len(problems)
    assert not any(str(case.path.parent) in line for case in hostile_corpus for line in lines)  # no server paths
    check_store(store, stored)
    peak = int(peak_report.read_text())
    with capsys.disabled():
        print(f"\nimport_dicom: {len(hostile_corpus)} hostile cases, {files} files, peak RSS "
              f"{peak / 2**20:.0f} MiB, {elapsed:.1f} s")
    assert peak < MEMORY_LIMIT


def test_every_hostile_file_through_the_upload_api(hostile_corpus, study, coordinator, api, store, ingest_worker,
                                                   capsys):
    client = api(coordinator)
    started = time.monotonic()
    for case in hostile_corpus:
        with case.path.open("rb") as handle:
            response = client.post(f"/api/v1/studies/{study.pk}/dicom/", {"files": [handle]}, format="multipart")
        assert response.status_code == 202, response.content
        job = wait_for_job(response.json()["id"])
        assert job.status == Job.Status.SUCCEEDED, (case.name, job.message)
        result = job.result
        problems = [(outcome, p["kind"], p["reason"]) for outcome, key in (("conflict", "conflicts"),
                                                                            ("rejected", "rejected"))
                    for p in result[key] if belongs_to(case, p["file"])]
        assert len(problems) == len(result["conflicts"]) + len(result["rejected"]), (case.name, result)
        check_problems(case, problems)
        expected = {"stored": (1, 0), "duplicate": (0, 1)}.get(case.outcome, (0, 0))
        assert (result["stored"], result["duplicates"]) == expected, (case.name, result)
        assert result["files"] == sum(expected) + result["conflict_count"] + result["rejected_count"]
        assert str(store) not in str(result)  # no server paths
        assert not staging_root().exists() or not any(staging_root().iterdir()), case.name
    elapsed = time.monotonic() - started
    assert not Job.objects.exclude(status__in=(Job.Status.SUCCEEDED, Job.Status.FAILED)).exists()
    check_store(store, sum(case.outcome == "stored" for case in hostile_corpus))
    peak = peak_memory(ingest_worker.pid)
    with capsys.disabled():
        print(f"\nupload API + worker: {len(hostile_corpus)} hostile cases, worker peak RSS "
              f"{peak / 2**20:.0f} MiB, {elapsed:.1f} s")
    assert peak < MEMORY_LIMIT

