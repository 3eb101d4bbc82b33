"""QIDO-RS (PS3.18 10.6): every search resource, the matching of each key, includefield, paging,
the Warning header, and what a reader's searches hold."""

import time

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

import studies.dicomweb.query
from tests.dicomweb.archives import (  # noqa: F401 - fixtures used here
    CR_IMAGE_STORAGE,
    image,
    image_mode,
    ingest_as_is,
    logged_in,
    orthanc_for_module,
    values,
)
from tests.dicomweb.conftest import shared_imaged_world  # noqa: F401 - the reader's world

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"


@pytest.fixture
def catalog(image_mode, make_study, coordinator, tmp_path) -> dict:  # noqa: F811
    """Three studies of known attributes: A (two series, DX and CR, three instances), B and C; in the
    local store and in the platform's archive."""
    uids = {name: generate_uid() for name in ("A", "B", "C", "a1", "a2", "b1", "c1")}
    studies = {
        "A": {"PatientName": "Doe^Jane", "PatientID": "PID-A", "StudyDate": "20240105", "StudyTime": "101500",
              "AccessionNumber": "ACC-1", "ReferringPhysicianName": "House^Gregory", "StudyID": "SA",
              "StudyDescription": "Chest PA"},
        "B": {"PatientName": "Smith^John", "PatientID": "PID-B", "StudyDate": "20240310", "StudyTime": "153000",
              "AccessionNumber": "ACC-2", "ReferringPhysicianName": "Grey^Meredith", "StudyID": "SB",
              "StudyDescription": "Abdomen"},
        "C": {"PatientName": "Dorian^Jan", "PatientID": "PID-C", "StudyDate": "20230101", "StudyTime": "080000",
              "AccessionNumber": "ACC-3", "ReferringPhysicianName": "", "StudyID": "SC",
              "StudyDescription": "Chest lateral"},
    }
    layout = [  # study, series, modality, series number, instance number, SOP class
        ("A", "a1", "DX", 1, 2, None), ("A", "a1", "DX", 1, 1, None), ("A", "a2", "CR", 2, 1, CR_IMAGE_STORAGE),
        ("B", "b1", "DX", 1, 1, None), ("C", "c1", "DX", 5, 3, None),
    ]
    datasets = []
    for study, series, modality, series_number, instance_number, sop_class in layout:
        extra = {"SOPClassUID": sop_class} if sop_class else {}
        datasets.append(image(study=uids[study], series=uids[series], Modality=modality, SeriesNumber=series_number,
                              InstanceNumber=instance_number, SeriesDescription=f"{modality} series {series_number}",
                              **studies[study], **extra))
    request = Dataset()
    request.RequestedProcedureID, request.ScheduledProcedureStepID = "RP-7", "SPS-9"
    datasets[2].RequestAttributesSequence = [request]  # series a2
    reader_study = make_study(n_readers=1, n_cases=0, status="draft", allow_identified_data=True)
    ingest_as_is(coordinator, reader_study, datasets, tmp_path / "catalog")
    sops = {(ds.SeriesInstanceUID, ds.InstanceNumber): ds.SOPInstanceUID for ds in datasets}
    return {"uids": uids, "client": logged_in(coordinator), "mode": image_mode,
            "sop": {name: sops[(uids[series], number)] for name, series, number in
                    (("a1-1", "a1", 1), ("a1-2", "a1", 2), ("a2-1", "a2", 1), ("b1-1", "b1", 1), ("c1-3", "c1", 3))}}


def found(catalog, path: str, params: dict, tag: str = STUDY_UID) -> list[str]:
    """The names (A, a1, a1-2...) of what a search finds, in the order it finds them (an order of its
    own in each image mode: studies as indexed or by UID)."""
    response = catalog["client"].get(f"/dicomweb/{path}", params)
    assert response.status_code == 200, response.content
    names = {uid: name for name, uid in {**catalog["uids"], **catalog["sop"]}.items()}
    return [names[uid] for uid in values(response.json(), tag)]


def by_uid(results: list[dict], tag: str, uid: str) -> dict:
    (result,) = [result for result in results if values([result], tag) == [uid]]
    return result


@pytest.mark.parametrize(("params", "expected"), [
    ({}, ["A", "B", "C"]),
    ({"PatientName": "doe^jane"}, ["A"]),  # PN: case-insensitive
    ({"PatientName": "D*"}, ["A", "C"]),
    ({"PatientName": "Smith^J?hn"}, ["B"]),
    ({"PatientName": "jan"}, []),  # literal: the whole name
    ({"PatientName": "jan", "fuzzymatching": "true"}, ["A", "C"]),  # a word's start: Jane, Jan
    ({"PatientName": "john smi", "fuzzymatching": "true"}, ["B"]),  # words in any order
    ({"00100010": "DOE^JANE"}, ["A"]),  # by tag
    ({"PatientID": "PID-B"}, ["B"]),
    ({"PatientID": "pid-b"}, []),  # LO: case-sensitive
    ({"StudyDate": "20240101-20241231"}, ["A", "B"]),
    ({"StudyDate": "-20231231"}, ["C"]),
    ({"StudyDate": "20240301-"}, ["B"]),
    ({"StudyDate": "20240310"}, ["B"]),
    ({"StudyTime": "100000-160000"}, ["A", "B"]),
    ({"StudyTime": "-0900"}, ["C"]),
    ({"StudyTime": "1015"}, ["A"]),
    ({"AccessionNumber": "ACC-*"}, ["A", "B", "C"]),
    ({"AccessionNumber": "ACC-2"}, ["B"]),
    ({"ReferringPhysicianName": "house*"}, ["A"]),
    ({"StudyID": "SB"}, ["B"]),
    ({"StudyDescription": "Chest*"}, ["A", "C"]),
    ({"ModalitiesInStudy": "CR"}, ["A"]),
    ({"ModalitiesInStudy": "DX"}, ["A", "B", "C"]),
    ({"ModalitiesInStudy": "C?"}, ["A"]),
])
def test_study_matching(catalog, params, expected):
    assert sorted(found(catalog, "studies", params)) == expected


def test_wildcards_on_indexed_keys_and_a_hostile_pattern(catalog):
    assert sorted(found(catalog, "studies", {"PatientID": "PID-?"})) == ["A", "B", "C"]
    assert sorted(found(catalog, "studies", {"AccessionNumber": "*-2", "StudyID": "S*"})) == ["B"]
    started = time.perf_counter()  # as a regular expression this would backtrack for minutes
    assert found(catalog, "instances", {"PatientName": "*a" * 30 + "*z", "AccessionNumber": "*A" * 30 + "*z"}) == []
    assert time.perf_counter() - started < 5


def test_uid_lists_and_combined_keys(catalog):
    uids = catalog["uids"]
    for separator in (",", "\\"):
        assert sorted(found(catalog, "studies", {"StudyInstanceUID": f"{uids['A']}{separator}{uids['C']}"})) == ["A", "C"]
    assert sorted(found(catalog, "studies", {"StudyDate": "20240101-20241231", "PatientName": "D*"})) == ["A"]
    assert sorted(found(catalog, "studies", {"StudyDate": "20240101-20241231", "ModalitiesInStudy": "CR",
                                      "StudyID": "SA"})) == ["A"]


@pytest.mark.parametrize("params", [
    {"StudyDate": "2024"}, {"StudyDate": "2024*"}, {"StudyDate": "20240101-2024"}, {"StudyTime": "25x"}, {"StudyTime": "-"},
    {"StudyInstanceUID": "1.2.abc"}, {"limit": "x"}, {"offset": "-1"}, {"limit": "²"},
    {"fuzzymatching": "maybe"}, {"emptyvaluematching": "yes"}, {"includefield": "NoSuchKeyword"},
])
def test_a_supported_parameter_with_an_invalid_value_is_a_bad_request(catalog, params):
    response = catalog["client"].get("/dicomweb/studies", params)
    assert response.status_code == 400 and response.json()["detail"]


def test_all_series_and_a_studys_series(catalog):
    uids = catalog["uids"]
    assert sorted(found(catalog, "series", {}, SERIES_UID)) == ["a1", "a2", "b1", "c1"]
    assert sorted(found(catalog, "series", {"Modality": "CR"}, SERIES_UID)) == ["a2"]
    assert sorted(found(catalog, "series", {"PatientName": "smith*"}, SERIES_UID)) == ["b1"]  # a study key, no study given
    assert sorted(found(catalog, "series", {"SeriesNumber": "5"}, SERIES_UID)) == ["c1"]
    for key, value in (("RequestAttributesSequence.RequestedProcedureID", "RP-7"),
                       ("RequestAttributesSequence.ScheduledProcedureStepID", "SPS-*"),
                       ("00400275.00401001", "RP-7")):  # in the items of a sequence, by keyword or tag
        response = catalog["client"].get("/dicomweb/series", {key: value})
        if catalog["mode"] == "local":
            assert values(response.json(), SERIES_UID) == [uids["a2"]] and "Warning" not in response, key
        else:  # Orthanc returns no sequence in its search results: ignored, and said so
            assert len(response.json()) == 4 and "The image archive cannot match these keys" in response["Warning"]
    if catalog["mode"] == "local":
        assert found(catalog, "series", {"RequestAttributesSequence.RequestedProcedureID": "RP-8"}, SERIES_UID) == []
    assert sorted(found(catalog, "series", {"SeriesDescription": "DX*", "StudyDate": "20240101-20240201"},
                 SERIES_UID)) == ["a1"]
    first = by_uid(catalog["client"].get("/dicomweb/series").json(), SERIES_UID, uids["a1"])
    assert first["00100010"]["Value"] == [{"Alphabetic": "Doe^Jane"}]  # the study's attributes too
    assert first["00201209"]["Value"] == [2]  # NumberOfSeriesRelatedInstances
    assert first["00081190"]["Value"] == [f"http://testserver/dicomweb/studies/{uids['A']}/series/{uids['a1']}"]

    in_a = catalog["client"].get(f"/dicomweb/studies/{uids['A']}/series")
    assert values(in_a.json(), SERIES_UID) == [uids["a1"], uids["a2"]]
    assert "00100010" not in in_a.json()[0] and in_a.json()[1]["00080060"]["Value"] == ["CR"]
    assert sorted(found(catalog, f"studies/{uids['A']}/series", {"SeriesNumber": "2"}, SERIES_UID)) == ["a2"]


def test_all_instances_a_studys_instances_and_a_series_instances(catalog):
    uids = catalog["uids"]
    assert sorted(found(catalog, "instances", {}, SOP_UID)) == ["a1-1", "a1-2", "a2-1", "b1-1", "c1-3"]
    assert sorted(found(catalog, "instances", {"InstanceNumber": "3"}, SOP_UID)) == ["c1-3"]
    assert sorted(found(catalog, "instances", {"StudyDate": "20240310"}, SOP_UID)) == ["b1-1"]
    assert sorted(found(catalog, "instances", {"SOPClassUID": CR_IMAGE_STORAGE}, SOP_UID)) == ["a2-1"]
    assert sorted(found(catalog, "instances", {"Modality": "DX", "PatientName": "D*"}, SOP_UID)) == ["a1-1", "a1-2", "c1-3"]
    first = by_uid(catalog["client"].get("/dicomweb/instances").json(), SOP_UID, catalog["sop"]["a1-1"])
    assert first["00100020"]["Value"] == ["PID-A"] and first["00080060"]["Value"] == ["DX"]  # study and series

    in_a = f"studies/{uids['A']}/instances"
    assert sorted(found(catalog, in_a, {}, SOP_UID)) == ["a1-1", "a1-2", "a2-1"]
    assert sorted(found(catalog, in_a, {"Modality": "CR"}, SOP_UID)) == ["a2-1"]
    assert sorted(found(catalog, in_a, {"SeriesNumber": "1", "InstanceNumber": "2"}, SOP_UID)) == ["a1-2"]
    result = catalog["client"].get(f"/dicomweb/{in_a}").json()[0]
    assert "00100020" not in result and result["0008103E"]["Value"] == ["DX series 1"]  # series, not study

    in_a1 = f"studies/{uids['A']}/series/{uids['a1']}/instances"
    assert sorted(found(catalog, in_a1, {}, SOP_UID)) == ["a1-1", "a1-2"]
    result = catalog["client"].get(f"/dicomweb/{in_a1}").json()[0]
    assert "00080060" not in result and result["00280010"]["Value"] == [64]
    assert result["00081190"]["Value"] == [
        f"http://testserver/dicomweb/studies/{uids['A']}/series/{uids['a1']}/instances/{catalog['sop']['a1-1']}"]
    assert result["00080056"]["Value"] == ["ONLINE"]


def test_includefield_by_keyword_tag_list_and_all(catalog):
    uids = catalog["uids"]
    url = f"/dicomweb/studies/{uids['A']}/series/{uids['a1']}/instances"
    plain = catalog["client"].get(url).json()[0]
    assert "00080020" not in plain and "00100040" not in plain  # StudyDate, PatientSex: not instance attributes
    asked = catalog["client"].get(url, {"includefield": ["StudyDate,00100040", "SeriesDescription"]}).json()[0]
    assert asked["00080020"]["Value"] == ["20240105"] and "00100040" in asked and "0008103E" in asked
    everything = catalog["client"].get(url, {"includefield": "all"}).json()[0]
    assert len(everything) > len(asked) and "7FE00010" not in everything
    assert "00020010" not in everything  # no file meta information


def test_universal_matching_returns_the_attribute(catalog):
    uids = catalog["uids"]
    url = f"/dicomweb/studies/{uids['A']}/series/{uids['a1']}/instances"
    assert "00200013" in catalog["client"].get(url).json()[0]
    response = catalog["client"].get("/dicomweb/studies", {"StudyDescription": "", "PatientSex": ""})
    assert len(response.json()) == 3 and "Warning" in response  # PatientSex is no matching key: ignored
    assert all("00081030" in result for result in response.json())


def test_limit_offset(catalog):
    every = found(catalog, "instances", {}, SOP_UID)
    assert found(catalog, "instances", {"limit": 2}, SOP_UID) == every[:2]
    assert found(catalog, "instances", {"limit": 2, "offset": 2}, SOP_UID) == every[2:4]
    assert found(catalog, "instances", {"offset": 4}, SOP_UID) == every[4:]
    assert found(catalog, "instances", {"offset": 99}, SOP_UID) == []
    assert found(catalog, "instances", {"limit": 0}, SOP_UID) == []
    # Paging after a key matched on the instances' metadata rather than the index (a name).
    named = found(catalog, "instances", {"PatientName": "D*"}, SOP_UID)
    assert sorted(named) == ["a1-1", "a1-2", "a2-1", "c1-3"]
    assert found(catalog, "instances", {"PatientName": "D*", "limit": 2, "offset": 1}, SOP_UID) == named[1:3]


def test_more_results_than_the_service_gives_at_once_are_announced(catalog, monkeypatch):
    monkeypatch.setattr(studies.dicomweb.query, "MAX_LIMIT", 2)
    client = catalog["client"]
    capped = client.get("/dicomweb/instances")
    assert len(capped.json()) == 2
    assert capped["Warning"] == ('299 http://testserver/dicomweb: "The number of results exceeded the maximum '
                                 'supported by the server. Additional results can be requested."')
    assert "Warning" not in client.get("/dicomweb/instances", {"limit": 2})  # the client's own page size
    assert len(client.get("/dicomweb/instances", {"limit": 10}).json()) == 2
    assert "Warning" not in client.get("/dicomweb/instances", {"offset": 3})  # the last two: no more
    assert "Warning" in client.get("/dicomweb/instances", {"PatientName": "D*"})  # four match


def test_unsupported_parameters_are_ignored_with_a_warning(catalog):
    client = catalog["client"]
    response = client.get("/dicomweb/studies", {"NotAnAttribute": "x", "Foo": "1", "SOPInstanceUID": "1.2"})
    assert len(response.json()) == 3
    assert response["Warning"] == ('299 http://testserver/dicomweb: "The following query parameters are not '
                                   'supported and were ignored: Foo, NotAnAttribute, SOPInstanceUID"')
    scoped = client.get(f"/dicomweb/studies/{catalog['uids']['A']}/series", {"PatientName": "nobody"})
    assert len(scoped.json()) == 2 and "PatientName" in scoped["Warning"]  # the study is given: no study key
    empty = client.get("/dicomweb/studies", {"emptyvaluematching": "true", "multiplevaluematching": "true"})
    assert empty["Warning"] == (
        '299 http://testserver/dicomweb: "The emptyvaluematching parameter is not supported. Empty Value Matching '
        'has not been performed.", 299 http://testserver/dicomweb: "The multiplevaluematching parameter is not '
        'supported. Multiple Value Matching has not been performed."')
    assert "Warning" not in client.get("/dicomweb/studies", {"fuzzymatching": "true", "limit": "5"})
    odd = client.get("/dicomweb/studies", {'Dö"s\\n': "1"})
    assert odd.status_code == 200 and odd["Warning"].endswith('ignored: D??s?n"')


# ------------------------------------------------------------ a reader's searches


@pytest.fixture
def world(shared_imaged_world):  # noqa: F811
    return shared_imaged_world


def _uids_of_cases(cases) -> dict[str, set]:
    from studies.models import DicomInstance

    instances = DicomInstance.objects.filter(series__dicom_study__case__in=cases).select_related("series__dicom_study")
    return {"study": {i.series.dicom_study.study_instance_uid for i in instances},
            "series": {i.series.series_instance_uid for i in instances},
            "instance": {i.sop_instance_uid for i in instances}}


def test_a_readers_searches_hold_only_the_cases_open_to_them(world):
    from studies.permissions import open_case_ids

    reader = world["users"]["reader"]
    cases = world["study"].cases.all()
    own, foreign = _uids_of_cases(cases.filter(pk__in=open_case_ids(reader))), _uids_of_cases(
        cases.exclude(pk__in=open_case_ids(reader)))
    assert own["study"] and foreign["study"]
    client = logged_in(reader)
    for path, level, tag in (("series", "series", SERIES_UID), ("instances", "instance", SOP_UID)):
        for params in ({}, {"PatientName": "*"}, {"StudyInstanceUID": ",".join(own["study"] | foreign["study"])}):
            response = client.get(f"/dicomweb/{path}", params)
            assert set(values(response.json(), tag)) == own[level], (path, params)
            assert not any(uid.encode() in response.content for uid in foreign["study"] | foreign[level])
        only_foreign = client.get(f"/dicomweb/{path}", {"StudyInstanceUID": ",".join(foreign["study"])})
        assert only_foreign.json() == []
    for study in foreign["study"]:
        assert client.get(f"/dicomweb/studies/{study}/instances").status_code == 404


@pytest.mark.parametrize(("role", "sees_all"), [("coordinator", True), ("admin", True), ("other_coordinator", False),
                                                ("other_reader", False)])
def test_staff_searches_hold_their_studies(world, role, sees_all):
    every = _uids_of_cases(world["study"].cases.all())
    client = logged_in(world["users"][role])
    for path, level, tag in (("series", "series", SERIES_UID), ("instances", "instance", SOP_UID)):
        listed = set(values(client.get(f"/dicomweb/{path}").json(), tag))
        assert listed == (every[level] if sees_all else set())


# ------------------------------------------------------------ an external archive (upstream mode)


@pytest.mark.integration
def test_upstream_mode_searches_hold_only_a_readers_cases(orthanc_for_module, db, settings):  # noqa: F811
    """Images only in the external archive, de-identified there under the UIDs the cases name: the
    searches no study scopes ask it for the reader's studies alone, and every resource of another's
    study is 404."""
    from mrmc.dicom.deid import deidentify
    from mrmc.dicom.deid_profile import DeidOptions
    from mrmc.dicom.parse import write_instance
    from studies.models import Assignment, Role
    from tests.conftest import create_study, create_user
    from tests.dicomweb.images import case_datasets

    # Users of its own: the module's reader world keeps its users while the module runs.
    study = create_study(create_user("upstream_coord", Role.COORDINATOR), n_readers=2, n_cases=4,
                         design="split_plot", reader_prefix="upstream_reader")
    for case in study.cases.all():
        for ds in case_datasets(seed=case.pk, study_instance_uid=case.study_instance_uid):
            deidentify(ds, key=b"the hospital's key", options=DeidOptions(retain_uids=True))
            orthanc_for_module.upload(write_instance(ds))
    settings.IMAGE_MODE, settings.DICOMWEB_UPSTREAM, settings.DICOMWEB_UPSTREAM_DEIDENTIFIED = (
        "upstream", orthanc_for_module.dicomweb, True)
    r01 = Assignment.objects.filter(session__study=study, reader__code="R01", session__number=1).first()
    own = set(study.cases.filter(assignments__reader=r01.reader).values_list("study_instance_uid", flat=True))
    foreign = set(study.cases.values_list("study_instance_uid", flat=True)) - own
    reader = logged_in(r01.reader.user)
    for path, params in (("studies", {}), ("series", {}), ("instances", {}), ("instances", {"Modality": "DX"}),
                         ("series", {"StudyInstanceUID": ",".join(own | foreign)})):
        response = reader.get(f"/dicomweb/{path}", params)
        assert set(values(response.json(), STUDY_UID)) == own, (path, params)
    (series,) = reader.get("/dicomweb/series", {"StudyInstanceUID": sorted(own)[0]}).json()
    assert series["00081190"]["Value"][0].startswith(f"http://testserver/dicomweb/studies/{sorted(own)[0]}/series/")
    for uid in foreign:
        for suffix in ("/instances", "/series", "/rendered", "/thumbnail"):
            assert reader.get(f"/dicomweb/studies/{uid}{suffix}").status_code == 404
    staff = logged_in(study.memberships.first().user)
    assert set(values(staff.get("/dicomweb/instances").json(), STUDY_UID)) == own | foreign
