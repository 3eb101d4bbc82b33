"""Files previewed on the console and never stored are swept by Celery beat once older than KEPT_S, whether or
not anyone previews again; younger ones, and a crash's temporary files while young, stay."""

import hashlib
import os
import time

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from studies import tasks
from studies.console import staged
from studies.models import Case

pytestmark = pytest.mark.django_db
OLD_TRUTH = b"case,truth\nA,1\nB,0\n"
NEW_TRUTH = b"case,truth\nC,1\nD,0\n"


@pytest.fixture
def draft(make_study, settings, tmp_path):
    settings.DICOM_STORAGE = tmp_path / "store"
    return make_study(status="draft", n_readers=1, n_cases=0)


def _preview(client: Client, study, data: bytes) -> str:
    assert client.post(f"/console/studies/{study.pk}/truth/",
                       {"file": SimpleUploadedFile("truth.csv", data)}).status_code == 200
    return hashlib.sha256(data).hexdigest()


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_beat_sweeps_old_previews_and_keeps_young_ones(draft, coordinator):
    client = Client()
    client.force_login(coordinator)
    old = _preview(client, draft, OLD_TRUTH)
    other = Client()
    other.force_login(coordinator)
    young = _preview(other, draft, NEW_TRUTH)
    root = staged._root()
    crashed = root / ".staging-left-by-a-crash"
    crashed.write_bytes(b"half a file")
    _age(root / old, staged.KEPT_S + 60)
    _age(crashed, staged.KEPT_S + 60)

    assert tasks.sweep_console_staging.apply().get() == {"removed": 2}
    assert sorted(path.name for path in root.iterdir()) == [young]
    refused = client.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": old})
    assert refused.status_code == 400
    assert "the previewed file is no longer kept: preview it again" in refused.content.decode()
    assert other.post(f"/console/studies/{draft.pk}/truth/store/", {"sha256": young}).status_code == 302
    assert sorted(Case.objects.filter(study=draft).values_list("label", flat=True)) == ["C", "D"]


def test_a_sweep_before_anything_was_previewed_removes_nothing(draft):
    assert not staged._root().exists()
    assert tasks.sweep_console_staging.apply().get() == {"removed": 0}


def test_beat_runs_the_sweep_well_within_the_time_a_preview_is_kept():
    entry = django_settings.CELERY_BEAT_SCHEDULE["sweep-console-staging"]
    assert entry["task"] == tasks.sweep_console_staging.name
    assert entry["schedule"] <= staged.KEPT_S / 2
