"""The protocol's ``deviation_rules:`` block: the example's rules become the study's, and a wrong rule is refused
at its line, naming its field, creating nothing."""

from pathlib import Path

import pytest

from studies.errors import InvalidInput
from studies.models import Study
from studies.services.protocol import create_study_from_protocol

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "protocol.example.yaml"


def test_the_example_sets_the_rules(make_user):
    coordinator = make_user("coordinator", "coordinator")  # the example names them as a member
    study = create_study_from_protocol(actor=coordinator, text=EXAMPLE.read_text())
    assert study.deviation_rules == {
        "session_window_days": 14, "late_session": {"major_after_days": 7},
        "washout_shortened": {"major_below_days": 14}, "read_outside_window": {"major_below_days": 14},
        "revision": "minor", "technical_failure": "major", "case_excluded": "major", "default": "minor"}


def test_a_wrong_rule_is_refused_at_its_line(coordinator):
    text = ("title: x\narms:\n  - {name: a}\ndeviation_rules:\n  revision: minor\n  late_session:\n"
            "    major_after_days: -2\n")
    with pytest.raises(InvalidInput, match="from 0 to 3650") as refused:
        create_study_from_protocol(actor=coordinator, text=text)
    assert (refused.value.field, refused.value.line) == ("deviation_rules.late_session.major_after_days", 7)
    assert not Study.objects.exists()
