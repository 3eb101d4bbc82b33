"""The hostile corpus, made once per test session, and a content store of each test's own."""

import pytest

from tests.hostile.corpus import HostileCase, archive_cases


@pytest.fixture(scope="session")
def hostile_corpus(tmp_path_factory) -> list[HostileCase]:
    from tests.hostile.dicom_corpus import dicom_cases

    folder = tmp_path_factory.mktemp("hostile")
    cases = archive_cases(folder / "archives") + dicom_cases(folder / "dicom")
    names = [case.name for case in cases]
    assert len(set(names)) == len(names), "case names must be unique: reports name files by them"
    return cases


@pytest.fixture
def store(settings, tmp_path, monkeypatch):
    """An empty content store, also for processes started after it (import_dicom, the worker)."""
    root = tmp_path / "store"
    settings.DICOM_STORAGE = root
    monkeypatch.setenv("DICOM_STORAGE", str(root))
    return root


@pytest.fixture
def ingest_worker(store, celery_worker):
    """The real Celery worker, started once the store is set so that it writes there too."""
    return celery_worker
