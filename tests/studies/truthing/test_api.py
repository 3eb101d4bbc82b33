"""The truthing API as the browser uses it: shapes, status codes, who may call what, and the images a truther
may see."""

import uuid

from studies.models import Role, Study
from studies.permissions import can_view_dicom_study, case_study_uids_visible_to
from studies.services import studies as study_services
from tests.conftest import create_study, create_user

from .conftest import RULE, box, label_all, member_user

BASE = "/api/v1/studies/{}/truthing/"


def url(study, tail=""):
    return BASE.format(study.pk) + tail


def post_label(api, study, code, case, round_=1, value=1, lesions=(), key=None):
    body = {"case": case.pk, "round": round_, "idempotency_key": str(key or uuid.uuid4()), "label": value,
            "lesions": list(lesions), "comment": "", "opened_at": None}
    return api(member_user(study, code)).post(url(study, "labels/"), body, format="json")


def test_a_truther_reads_their_panels_cases_and_a_case(api, panel_study):
    client = api(member_user(panel_study, "E2"))
    [panel] = client.get("/api/v1/truthing/").json()
    assert panel == {"study": panel_study.pk, "title": panel_study.title, "code": "E2", "role": "truther",
                     "round": 1, "state": "open", "reason_closed": "", "cases_total": 6, "cases_done": 0,
                     "disputes_open": None}
    cases = client.get(url(panel_study, "cases/")).json()
    first = panel_study.cases.order_by("id").first()
    assert cases[0] == {"case": first.pk, "label": "C000", "position": 1, "round": 1, "done": False,
                        "study_instance_uid": first.study_instance_uid}
    detail = client.get(url(panel_study, f"cases/{first.pk}/")).json()
    assert detail == {"case": first.pk, "label": "C000", "study_instance_uid": first.study_instance_uid, "round": 1,
                      "is_open": True, "reason_closed": "", "marks_allowed": ["box", "point", "polygon"],
                      "own": None, "others": []}
    assert "truth" not in str(detail) and "ai" not in detail


def test_a_label_is_created_replayed_and_a_twin_refused(api, panel_study):
    case, key = panel_study.cases.order_by("id").first(), uuid.uuid4()
    created = post_label(api, panel_study, "E1", case, lesions=[box(0, 0, 5, 5)], key=key)
    assert created.status_code == 201, created.content
    assert created.json()["lesions"] == [box(0.0, 0.0, 5.0, 5.0)]
    replay = post_label(api, panel_study, "E1", case, lesions=[box(0, 0, 5, 5)], key=key)
    assert replay.status_code == 200 and replay.json()["id"] == created.json()["id"]
    twin = post_label(api, panel_study, "E1", case, value=0)
    assert twin.status_code == 409 and twin.json()["code"] == "already_read"
    shown = api(member_user(panel_study, "E1")).get(url(panel_study, f"cases/{case.pk}/")).json()
    assert shown["own"] == {"label": 1, "lesions": [box(0.0, 0.0, 5.0, 5.0)], "comment": ""}
    assert not shown["is_open"]


def test_a_bad_mark_is_refused_naming_the_field(api, panel_study):
    case = panel_study.cases.first()
    response = post_label(api, panel_study, "E1", case, lesions=[box(0, 0, 5, 5), {"type": "box"}])
    assert response.status_code == 400
    assert response.json()["field"] == "lesions[1].sop_instance_uid"
    unknown = api(member_user(panel_study, "E1")).post(url(panel_study, "labels/"), {
        "case": case.pk, "round": 1, "idempotency_key": str(uuid.uuid4()), "label": 1, "colour": "red"},
        format="json")
    assert unknown.status_code == 400 and "colour" in unknown.json()


def test_disputes_adjudication_agreement_and_finalize(api, panel_study, coordinator, statistician):
    study_services.add_member(actor=coordinator, study=panel_study, user=statistician)
    table = {"E1": [1, 1, 0, 0, 1, 0], "E2": [1, 1, 0, 0, 1, 1], "E3": [1, 1, 0, 0, 1, 0]}
    label_all(panel_study, 1, table)
    label_all(panel_study, 2, table)
    disputed = panel_study.cases.get(label="C005")
    adjudicator = api(member_user(panel_study, "A1"))
    [dispute] = adjudicator.get(url(panel_study, "disputes/")).json()
    assert dispute["case"] == disputed.pk and dispute["why"] == "labels differ: E1 0, E2 1, E3 0"
    assert dispute["labels"][0] == {"member": "E1", "round": 1, "label": 0, "lesions": []}
    assert api(coordinator).get(url(panel_study, "disputes/")).status_code == 200
    assert api(member_user(panel_study, "E1")).get(url(panel_study, "disputes/")).status_code == 403
    assert [c["case"] for c in adjudicator.get(url(panel_study, "cases/")).json()] == [disputed.pk]
    shown = adjudicator.get(url(panel_study, f"cases/{disputed.pk}/")).json()
    assert shown["is_open"] and shown["round"] is None and len(shown["others"]) == 6
    finalize = api(coordinator).post(url(panel_study, "finalize/"), {}, format="json")
    assert finalize.status_code == 409 and "C005" in finalize.json()["detail"]
    body = {"case": disputed.pk, "label": 0, "lesions": [], "note": "biopsy benign",
            "idempotency_key": str(uuid.uuid4())}
    assert adjudicator.post(url(panel_study, "adjudications/"), body, format="json").status_code == 201
    assert adjudicator.post(url(panel_study, "adjudications/"), body, format="json").status_code == 200
    agreement = api(statistician).get(url(panel_study, "agreement/"))
    assert agreement.status_code == 200
    figures = agreement.json()
    assert figures["label"]["statistic"] == "fleiss" and figures["label"]["threshold"] == 0.6
    assert figures["disputes"] == 1 and figures["adjudicated"] == 1
    done = api(coordinator).post(url(panel_study, "finalize/"), {}, format="json")
    assert done.status_code == 200, done.content
    assert done.json()["methods"] == {"consensus": 5, "majority": 0, "adjudicated": 1}
    case = api(coordinator).get(f"/api/v1/studies/{panel_study.pk}/cases/").json()["results"][5]
    assert case["truth"] == 0 and case["truth_method"] == "adjudicated"
    assert api(member_user(panel_study, "E1")).get("/api/v1/truthing/").json()[0]["state"] == "closed"


def test_rule_and_members_for_the_coordinator(api, panel_study, coordinator, statistician):
    study_services.add_member(actor=coordinator, study=panel_study, user=statistician)
    client = api(coordinator)
    rule = client.get(url(panel_study, "rule/")).json()
    assert rule["rule"]["final"] == "adjudicated" and rule["fixed_because"] == ""
    bad = client.put(url(panel_study, "rule/"), {"rule": {"rounds": 2, "final": "vote"}}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "truthing.final"
    changed = client.put(url(panel_study, "rule/"), {"rule": RULE | {"rounds": 1}}, format="json")
    assert changed.status_code == 200 and changed.json()["rule"]["rounds"] == 1
    members = client.get(url(panel_study, "members/")).json()
    assert [(m["code"], m["role"], m["labels"]) for m in members] == [
        ("A1", "adjudicator", 0), ("E1", "truther", 0), ("E2", "truther", 0), ("E3", "truther", 0)]
    create_user("truther4", Role.TRUTHER)
    added = client.post(url(panel_study, "members/"), {"username": "truther4"}, format="json")
    assert added.status_code == 201 and added.json()["code"] == "E4"
    assert client.post(url(panel_study, "members/"), {"username": "nobody"}, format="json").status_code == 404
    assert client.delete(url(panel_study, f"members/{added.json()['id']}/")).status_code == 204
    assert api(statistician).put(url(panel_study, "rule/"), {"rule": {}}, format="json").status_code == 403
    assert api(statistician).get(url(panel_study, "members/")).status_code == 200


def test_truthers_see_only_their_panels(api, panel_study, coordinator):
    outsider = create_user("outsider", Role.TRUTHER)
    reader = create_user("a_reader", Role.READER)
    case = panel_study.cases.first()
    assert api(outsider).get("/api/v1/truthing/").json() == []
    assert api(outsider).get(url(panel_study, "cases/")).status_code == 404
    assert api(outsider).get(url(panel_study, f"cases/{case.pk}/")).status_code == 404
    assert api(reader).get("/api/v1/truthing/").status_code == 403
    assert api(coordinator).get(url(panel_study, "cases/")).status_code == 403
    e1 = api(member_user(panel_study, "E1"))
    for route in ("agreement/", "rule/", "members/"):
        assert e1.get(url(panel_study, route)).status_code == 404, route  # staff routes: not their study
    assert e1.get(f"/api/v1/studies/{panel_study.pk}/cases/").status_code == 404  # no imported truth
    assert e1.get(f"/api/v1/studies/{panel_study.pk}/ai-outputs/").status_code == 404


def test_truthers_images_are_their_panels_cases_while_truthing_is_open(panel_study, coordinator):
    other = create_study(coordinator, n_readers=0, n_cases=2, arms=(("unaided", False),), status=Study.Status.DRAFT)
    e1 = member_user(panel_study, "E1")
    mine = set(panel_study.cases.values_list("study_instance_uid", flat=True))
    assert set(case_study_uids_visible_to(e1)) == mine
    assert not set(case_study_uids_visible_to(e1)) & set(other.cases.values_list("study_instance_uid", flat=True))
    Study.objects.filter(pk=panel_study.pk).update(status=Study.Status.LOCKED)
    assert not case_study_uids_visible_to(e1).exists()


def test_dicomweb_asks_the_same_rule(panel_study, settings):
    settings.IMAGE_MODE = "upstream"  # images live elsewhere: the cases' UIDs say whose they are
    uid = panel_study.cases.first().study_instance_uid
    assert can_view_dicom_study(member_user(panel_study, "A1"), uid)
    assert not can_view_dicom_study(create_user("outsider", Role.TRUTHER), uid)
