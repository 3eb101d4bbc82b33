"""The matching of QIDO-RS keys on DICOM JSON (PS3.4 C.2.2.2), without a server."""

import time

import pytest
from django.http import QueryDict

from studies.dicomweb.http import BadRequest
from studies.dicomweb.query import parse_query, time_range, wildcard_matches


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("DOE*", "DOE^JANE", True), ("*JANE", "DOE^JANE", True), ("D?E*", "DOE^JANE", True), ("*", "", True),
    ("?", "", False), ("a*b*c", "aXbYc", True), ("a*b*c", "aXbY", False), ("**a", "ba", True),
    ("a.c", "abc", False), ("a+", "aa", False), ("[ab]", "a", False), ("[ab]", "[ab]", True),  # literal, no regex
    ("*x*", "abc", False), ("abc", "abcd", False), ("abc*", "abc", True),
])
def test_wildcards(pattern, text, expected):
    assert wildcard_matches(pattern, text) is expected


def test_wildcards_take_no_time_on_a_hostile_pattern():
    """As a regular expression (.*a.*a...b) this backtracks for seconds per value at six stars."""
    started = time.perf_counter()
    assert not wildcard_matches("*a" * 40 + "*b", "a" * 64)
    assert time.perf_counter() - started < 0.05


def name(alphabetic: str) -> dict:
    return {"00100010": {"vr": "PN", "Value": [{"Alphabetic": alphabetic}]}}


def query(string: str, levels=("study",)):
    return parse_query(QueryDict(string), levels)


def test_person_names_literal_and_fuzzy():
    assert query("PatientName=doe%5Ejane").matches(name("Doe^Jane"))
    assert not query("PatientName=jane").matches(name("Doe^Jane"))
    assert query("PatientName=jane&fuzzymatching=true").matches(name("Doe^Jane"))
    assert query("PatientName=ja%20do&fuzzymatching=true").matches(name("Doe^Jane"))
    assert not query("PatientName=jo&fuzzymatching=true").matches(name("Doe^Jane"))
    assert query("PatientName=J%3Fn*&fuzzymatching=true").matches(name("Doe^Jane"))
    assert not query("PatientName=doe").matches({})  # no value: no match
    ideographic = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎"}]}}
    assert query("PatientName=山田*").matches(ideographic)


def test_ranges_multiple_values_and_sequences():
    study = {"00080020": {"vr": "DA", "Value": ["20240105"]}, "00080030": {"vr": "TM", "Value": ["101500.25"]},
             "00080061": {"vr": "CS", "Value": ["CR", "DX"]},
             "00400275": {"vr": "SQ", "Value": [{"00401001": {"vr": "SH", "Value": ["RP-1"]}},
                                                {"00401001": {"vr": "SH", "Value": ["RP-7"]}}]}}
    assert query("StudyDate=20240101-20240131").matches(study)
    assert not query("StudyDate=-20231231").matches(study)
    assert query("StudyTime=1015-1016").matches(study) and not query("StudyTime=101501-").matches(study)
    assert query("ModalitiesInStudy=DX").matches(study) and query("ModalitiesInStudy=C*").matches(study)
    series = query("RequestAttributesSequence.RequestedProcedureID=RP-7", ("series",))
    assert series.matches(study) and not query("RequestAttributesSequence.RequestedProcedureID=RP-8",
                                                ("series",)).matches(study)


def test_numbers():
    instance = {"00200013": {"vr": "IS", "Value": [12]}}
    assert query("InstanceNumber=12", ("instance",)).matches(instance)
    assert query("InstanceNumber=+12", ("instance",)).matches(instance)
    assert not query("InstanceNumber=13", ("instance",)).matches(instance)
    with pytest.raises(BadRequest):
        query("InstanceNumber=1.5", ("instance",))


@pytest.mark.parametrize(("value", "vr", "expected"), [
    ("20240101-20241231", "DA", ("20240101", "20241231")), ("20240101", "DA", ("20240101", "20240101")),
    ("-20241231", "DA", ("", "20241231")), ("1015-", "TM", ("101500.000000", "")),
    ("101500.5", "TM", ("101500.500000", "101500.500000")),
])
def test_time_ranges(value, vr, expected):
    assert time_range(value, vr) == expected


def test_universal_matching_and_what_is_returned():
    parsed = query("PatientName=*&StudyDescription=&AccessionNumber=A1")
    assert [condition.keyword for condition in parsed.conditions] == ["AccessionNumber"]
    assert set(parsed.returned_tags) == {"00100010", "00081030", "00080050"}
