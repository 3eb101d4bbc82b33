"""The accountability API as a coordinator and a statistician use it (who may call each route is in the
permission matrix, tests/studies/permissions/routes.py)."""

import pytest

from studies.models import Role

from .world import NOW, planted_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def study(coordinator, statistician):
    from studies.services import deviations
    from studies.services import studies as study_services

    study = planted_study(coordinator)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    deviations.detect(study=study, now=NOW)
    return study


def test_the_deviation_list_filters(api, study, statistician):
    client = api(statistician)
    url = f"/api/v1/studies/{study.pk}/deviations/"
    assert client.get(url).json()["count"] == 11
    major_late = client.get(url, {"kind": "late_session", "severity": "major"}).json()
    assert major_late["count"] == 2 and {row["reader"] for row in major_late["results"]} == {"R02", "R03"}
    assert client.get(url, {"reviewed": "true"}).json()["count"] == 0
    refused = client.get(url, {"kind": "late"})
    assert refused.status_code == 400 and "kind" in refused.json()


def test_review_and_record_through_the_api(api, study, coordinator, statistician):
    client = api(coordinator)
    deviation = study.deviations.get(kind="revision")
    url = f"/api/v1/studies/{study.pk}/deviations/{deviation.pk}/review/"
    refused = client.post(url, {"note": ""}, format="json")
    assert refused.status_code == 400 and "note" in refused.json()
    reviewed = client.post(url, {"note": "score slip, corrected at once", "severity": "minor"}, format="json").json()
    assert reviewed["reviewed_by"] == "coord" and reviewed["review_note"] == "score slip, corrected at once"
    recorded = client.post(f"/api/v1/studies/{study.pk}/deviations/",
                           {"kind": "other", "description": "R01 read with the lights on", "reader": "R01"},
                           format="json")
    assert recorded.status_code == 201 and recorded.json()["reader"] == "R01"
    assert api(statistician).post(url, {"note": "x"}, format="json").status_code == 403


def test_exclusion_and_the_table(api, study, coordinator, make_user):
    client = api(coordinator)
    excluded = client.post(f"/api/v1/studies/{study.pk}/case-exclusions/", {"case": "C003", "reason": "motion blur"},
                           format="json")
    assert excluded.status_code == 200 and excluded.json()["excluded_reason"] == "motion blur"
    assert client.get(f"/api/v1/studies/{study.pk}/case-exclusions/").json() == [excluded.json()]
    table = client.get(f"/api/v1/studies/{study.pk}/accountability/").json()
    # planted reads: unaided, R01 and R03 every case and R02 C000 and C001; aided, R01 and R02 every case
    assert table == {"enrolled": 4, "excluded": [{"case": "C003", "reason": "motion blur"}],
                     "read_per_arm": [{"arm": "unaided", "complete": 2, "partial": 2, "none": 0},
                                      {"arm": "aided", "complete": 0, "partial": 4, "none": 0}],
                     "not_analysed": {"excluded": 1, "no_truth": 0, "never_read": 0}, "analysed": 3}
    unknown = client.post(f"/api/v1/studies/{study.pk}/case-exclusions/withdraw/", {"case": "C002", "reason": "x"},
                          format="json")
    assert unknown.status_code == 409 and "not excluded" in unknown.json()["detail"]
    outsider = api(make_user("elsewhere", Role.COORDINATOR))
    assert outsider.get(f"/api/v1/studies/{study.pk}/accountability/").status_code == 404
