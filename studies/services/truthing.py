"""Truthing: a panel of experts establishes a study's reference standard in rounds, an adjudicator settles the
cases they disagree on, and the truth they reach is written to the cases with its provenance.

The rule
--------
``Study.truthing`` (the protocol's ``truthing:``); empty: the truth is imported (:mod:`studies.services.imports`)
and nothing here applies.

``rounds`` (required, 1 or 2)
    1: one blinded round. 2 (LIDC): a blinded round, then an unblinded one that opens for the whole panel once every
    truther has labelled every case in round 1, and shows each truther the other experts' round-1 labels and marks.
    The last round's labels are the panel's.
``marks`` (default: none)
    The lesion marks a truther may draw: any of ``box``, ``point``, ``polygon``. Marks go with a label of 1 only.
``matching`` (default ``{iou: 0.5, point_radius: 10}``)
    How two experts' marks of a case are paired (:func:`mrmc.stats.lesion_agreement.match_marks`): boxes and
    polygons by the assignment of largest total IoU, a pair kept at IoU >= ``iou`` (above 0, at most 1); points by
    least total distance, a pair kept within ``point_radius`` pixels (1 to 1000).
``thresholds`` (optional)
    ``kappa`` (-1 to 1) for the label agreement, ``dice`` (above 0, at most 1) for the mean Dice of matched marks:
    an agreement figure passes when its estimate is at or above its threshold.
``final`` (required)
    ``adjudicated``: every case the panel does not agree on unanimously goes to the adjudicator.
    ``majority``: a strict majority of the labels decides; ties, and cases whose positive experts' marks do not all
    match, go to the adjudicator.

The rule is fixed once any label exists; the panel (two or more truthers, and one adjudicator) likewise.

A case's outcome, once every truther has labelled it in the last round: unanimous labels (and, where the label is
1, every positive expert's marks matched pairwise) make it ``consensus``; a strict majority under ``final:
majority`` makes it ``majority``; otherwise it is disputed, and the adjudicator's decision makes it
``adjudicated``. The lesions written to an undisputed positive case are the matched marks averaged: for each mark
of the first positive expert (by code) and its partners in the other positive experts' marks, the mean of their
centres and of their radii (distance from the centre to the farthest vertex; none for points), in the lesion
format of imported truth (``sop_instance_uid``, ``frame``, ``x``, ``y``, ``radius``). An adjudicated case gets the
adjudicator's marks in the same format. Every expert's marks as drawn stay in ``Case.truth_provenance``.

Truth may change while the study is draft, enrolling or reading (as for imported truth); :func:`finalize` writes
it once every case has its last-round labels and every disputed case its adjudication, and closes the truthing.
"""

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from mrmc.stats.agreement import cohen_kappa, fleiss_kappa
from mrmc.stats.lesion_agreement import POINT, Mark, is_simple, lesion_agreement, match_marks
from studies.errors import AlreadyRead, InvalidInput, NotAllowed, NotFound, RuleViolation
from studies.models import Case, Role, Study, TruthAdjudication, TruthingMember, TruthLabel, User
from studies.permissions import Action, has_action, require, visible_studies
from studies.services import audit
from studies.services.imports import TRUTH_STATUSES
from studies.services.rule_fields import check_keys, is_number

RULE_KEYS = {"rounds", "marks", "matching", "thresholds", "final"}
MATCHING_KEYS = {"iou", "point_radius"}
THRESHOLD_KEYS = {"kappa", "dice"}
MARK_TYPES = ("box", "point", "polygon")
FINAL_RULES = ("adjudicated", "majority")
DEFAULT_MATCHING = {"iou": 0.5, "point_radius": 10.0}
POINT_RADIUS_RANGE = (1.0, 1000.0)
MAX_MARKS = 50  # per label
MAX_POLYGON_POINTS = 200
COORDINATE_LIMIT = 100_000.0  # pixels: far beyond any image
MAX_TEXT = 5000
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MIN_TRUTHERS = 2
PANEL_SOURCE = "panel"
ADJUDICATOR_CODE = "A1"


# ---------------------------------------------------------------- the rule


def validate_rule(rule) -> dict:
    """The rule with its defaults filled in; refuses a malformed one naming the field (``truthing.final``).
    An empty mapping is no truthing (imported truth)."""
    if not isinstance(rule, dict):
        raise InvalidInput("must be a mapping", field="truthing")
    if not rule:
        return {}
    check_keys(rule, RULE_KEYS, "truthing")
    for key in ("rounds", "final"):
        if key not in rule:
            raise InvalidInput("is required in a truthing rule", field=f"truthing.{key}")
    if rule["rounds"] not in (1, 2) or isinstance(rule["rounds"], bool):
        raise InvalidInput("must be 1 (blinded) or 2 (blinded, then unblinded)", field="truthing.rounds")
    if rule["final"] not in FINAL_RULES:
        raise InvalidInput(f"must be one of {', '.join(FINAL_RULES)}", field="truthing.final")
    marks = rule.get("marks", [])
    if not isinstance(marks, list) or any(kind not in MARK_TYPES for kind in marks) or len(set(marks)) < len(marks):
        raise InvalidInput(f"must be a list of distinct mark types from {', '.join(MARK_TYPES)}",
                           field="truthing.marks")
    matching = rule.get("matching", {})
    if not isinstance(matching, dict):
        raise InvalidInput("must be a mapping of iou and point_radius", field="truthing.matching")
    check_keys(matching, MATCHING_KEYS, "truthing.matching")
    matching = DEFAULT_MATCHING | matching
    if not is_number(matching["iou"]) or not 0 < matching["iou"] <= 1:
        raise InvalidInput("must be a number above 0 and at most 1", field="truthing.matching.iou")
    low, high = POINT_RADIUS_RANGE
    if not is_number(matching["point_radius"]) or not low <= matching["point_radius"] <= high:
        raise InvalidInput(f"must be a number of pixels from {low:g} to {high:g}",
                           field="truthing.matching.point_radius")
    thresholds = rule.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise InvalidInput("must be a mapping of kappa and dice", field="truthing.thresholds")
    check_keys(thresholds, THRESHOLD_KEYS, "truthing.thresholds")
    if "kappa" in thresholds and (not is_number(thresholds["kappa"]) or not -1 <= thresholds["kappa"] <= 1):
        raise InvalidInput("must be a number from -1 to 1", field="truthing.thresholds.kappa")
    if "dice" in thresholds and (not is_number(thresholds["dice"]) or not 0 < thresholds["dice"] <= 1):
        raise InvalidInput("must be a number above 0 and at most 1", field="truthing.thresholds.dice")
    return {"rounds": rule["rounds"], "marks": list(marks), "matching": matching, "thresholds": dict(thresholds),
            "final": rule["final"]}


def rule_fixed_because(study: Study) -> str:
    """Why the study's truthing rule and panel can no longer change; empty while they can."""
    if study.status not in TRUTH_STATUSES:
        return f"the study is {study.status}; truth can no longer change"
    if TruthLabel.objects.filter(case__study=study).exists():
        return "the truthing rule and panel are fixed once a truther has labelled a case"
    return ""


@transaction.atomic
def set_rule(*, actor: User, study: Study, rule: dict) -> Study:
    """Make ``rule`` the study's truthing rule (empty: the truth is imported); fixed once labelling has begun."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    reason = rule_fixed_because(study)
    if reason:
        raise RuleViolation(reason, field="truthing")
    study.truthing = validate_rule(rule)
    study.save(update_fields=["truthing", "updated_at"])
    return study


# ---------------------------------------------------------------- the panel


def truthers(study: Study) -> list[TruthingMember]:
    return list(study.truthing_members.filter(is_adjudicator=False).select_related("user").order_by("code"))


def adjudicator_of(study: Study) -> TruthingMember | None:
    return study.truthing_members.filter(is_adjudicator=True).select_related("user").first()


def truther_user(username: str) -> User:
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"no active user '{username}'", field="username")
    if user.role != Role.TRUTHER:
        raise InvalidInput(f"'{username}' is a {user.role}, not a truther", field="username")
    return user


@transaction.atomic
def add_member(*, actor: User, study: Study, user: User, adjudicator: bool = False) -> TruthingMember:
    """Put a truther on the panel (code E1, E2, … in order) or make them its adjudicator (code A1)."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    if user.role != Role.TRUTHER:
        raise InvalidInput(f"'{user.username}' is a {user.role}, not a truther", field="username")
    if study.truthing_members.filter(user=user).exists():
        raise InvalidInput(f"'{user.username}' is on this study's panel already", field="username")
    if adjudicator:
        current = adjudicator_of(study)
        if current is not None:
            raise RuleViolation(f"the panel has an adjudicator ({current.user.username}); remove them first",
                                field="adjudicator")
        if study.status not in TRUTH_STATUSES:
            raise RuleViolation(f"the study is {study.status}; truth can no longer change", field="adjudicator")
        if is_final(study):
            raise RuleViolation("the panel's truth is final", field="adjudicator")
        return TruthingMember.objects.create(study=study, user=user, code=ADJUDICATOR_CODE, is_adjudicator=True)
    reason = rule_fixed_because(study)
    if reason:
        raise RuleViolation(reason, field="username")
    codes = set(study.truthing_members.values_list("code", flat=True))
    number = next(n for n in range(1, len(codes) + 2) if f"E{n}" not in codes)
    return TruthingMember.objects.create(study=study, user=user, code=f"E{number}")


@transaction.atomic
def remove_member(*, actor: User, study: Study, member_id: int) -> None:
    """Take a member off the panel: a truther only before any label, the adjudicator before any adjudication."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    member = study.truthing_members.filter(pk=member_id).first()
    if member is None:
        raise NotFound("no such member of this study's panel")
    if member.is_adjudicator:
        if member.adjudications.exists():
            raise RuleViolation("the adjudicator has adjudicated cases and stays on the panel")
    else:
        reason = rule_fixed_because(study)
        if reason:
            raise RuleViolation(reason)
    member.delete()


@transaction.atomic
def set_up_from_protocol(*, actor: User, study: Study, block) -> Study:
    """The protocol's ``truthing:`` section: the rule's keys, plus ``panel`` (the truthers' usernames, coded E1, E2,
    … in this order) and ``adjudicator`` (a username); users new to the platform are created with the truther role.
    Errors name the field (``truthing.panel[1]``)."""
    if not isinstance(block, dict):
        raise InvalidInput("must be a mapping", field="truthing")
    rule = {key: value for key, value in block.items() if key not in ("panel", "adjudicator")}
    study = set_rule(actor=actor, study=study, rule=rule)
    panel = block.get("panel", [])
    if not isinstance(panel, list) or not all(isinstance(name, str) for name in panel):
        raise InvalidInput("must be a list of usernames", field="truthing.panel")
    for i, username in enumerate(panel):
        add_member(actor=actor, study=study, user=_protocol_truther(username, f"truthing.panel[{i}]"))
    if block.get("adjudicator") is not None:
        if not isinstance(block["adjudicator"], str):
            raise InvalidInput("must be a username", field="truthing.adjudicator")
        add_member(actor=actor, study=study, user=_protocol_truther(block["adjudicator"], "truthing.adjudicator"),
                   adjudicator=True)
    return study


def _protocol_truther(username: str, where: str) -> User:
    """A truther named in a protocol, created with the truther role if new (without a usable password yet), as
    readers named there are."""
    user = User.objects.filter(username=username).first()
    if user is None:
        if not username.strip() or len(username) > 150:
            raise InvalidInput("must be a username", field=where)
        user = User(username=username, role=Role.TRUTHER)
        user.set_unusable_password()
        user.save()
    if user.role != Role.TRUTHER:
        raise InvalidInput(f"'{username}' is a {user.role}, not a truther", field=where)
    return user


# ---------------------------------------------------------------- the state of the truthing


def closed_because(study: Study) -> str:
    """Why no label or adjudication can be submitted in the study now; empty while truthing is open."""
    if not study.truthing:
        return "the study has no truthing panel: its truth is imported"
    if study.status not in TRUTH_STATUSES:
        return f"the study is {study.status}; truth can no longer change"
    if study.truthing_members.filter(is_adjudicator=False).count() < MIN_TRUTHERS:
        return f"the panel needs at least {MIN_TRUTHERS} truthers"
    if is_final(study):
        return "the panel's truth is final"
    return ""


def is_final(study: Study) -> bool:
    return study.cases.filter(truth_provenance__source=PANEL_SOURCE).exists()


@dataclass
class Panel:
    """Everything the rules of a study's truthing ask about, loaded at once."""

    study: Study
    rule: dict
    truthers: list[TruthingMember]
    adjudicator: TruthingMember | None
    cases: list[Case]
    labels: dict[tuple[int, int, int], TruthLabel]  # (case, member, round)
    adjudications: dict[int, TruthAdjudication]  # by case
    closed_because: str
    _outcomes: dict = field(default_factory=dict)

    @classmethod
    def of(cls, study: Study) -> "Panel":
        members = list(study.truthing_members.select_related("user").order_by("code"))
        labels = TruthLabel.objects.filter(case__study=study).select_related("member")
        return cls(
            study=study, rule=study.truthing, truthers=[m for m in members if not m.is_adjudicator],
            adjudicator=next((m for m in members if m.is_adjudicator), None),
            cases=list(study.cases.order_by("id")),
            labels={(label.case_id, label.member_id, label.round): label for label in labels},
            adjudications={a.case_id: a for a in TruthAdjudication.objects.filter(case__study=study)},
            closed_because=closed_because(study),
        )

    @property
    def last_round(self) -> int:
        return self.rule.get("rounds", 1)

    def round_complete(self, number: int) -> bool:
        return all((case.pk, member.pk, number) in self.labels for case in self.cases for member in self.truthers)

    def open_round(self, member: TruthingMember) -> int | None:
        """The round open to a truther: 1 until they labelled every case in it; 2 (where the rule has it) once the
        whole panel has finished round 1, until they labelled every case in it; None when done or waiting."""
        if self.closed_because:
            return None
        for number in range(1, self.last_round + 1):
            if number > 1 and not self.round_complete(number - 1):
                return None  # waiting for the others
            if any((case.pk, member.pk, number) not in self.labels for case in self.cases):
                return number
        return None

    def state(self, member: TruthingMember) -> str:
        """open, waiting (for the others' round 1), done, or closed."""
        if self.closed_because:
            return "closed"
        if member.is_adjudicator:
            return "open" if self.disputes_open() else "done" if self.round_complete(self.last_round) else "waiting"
        if self.open_round(member) is not None:
            return "open"
        return "done" if all((c.pk, member.pk, self.last_round) in self.labels for c in self.cases) else "waiting"

    def last_labels(self, case: Case) -> list[TruthLabel] | None:
        """Every truther's last-round label of the case (in code order); None until all are in."""
        found = [self.labels.get((case.pk, member.pk, self.last_round)) for member in self.truthers]
        return None if any(label is None for label in found) or not found else found

    def outcome(self, case: Case) -> "Outcome | None":
        if case.pk not in self._outcomes:
            labels = self.last_labels(case)
            self._outcomes[case.pk] = None if labels is None else case_outcome(self.rule, labels)
        return self._outcomes[case.pk]

    def disputed_cases(self) -> list[Case]:
        return [case for case in self.cases if (outcome := self.outcome(case)) is not None and outcome.disputed]

    def disputes_open(self) -> int:
        return sum(1 for case in self.disputed_cases() if case.pk not in self.adjudications)


def panel_study(user: User, study_id: int) -> tuple[Study, TruthingMember]:
    """The study and the user's place on its panel; a study whose panel they are not on does not exist for them."""
    require(user, Action.TRUTH_CASES)
    member = TruthingMember.objects.select_related("study").filter(study_id=study_id, user=user).first()
    if member is None:
        raise NotFound("no such study")
    return member.study, member


# ---------------------------------------------------------------- what a member sees


def panels_of(user: User) -> list[dict]:
    """The user's panels: their role on each, the round open to them and their progress."""
    require(user, Action.TRUTH_CASES)
    rows = []
    for member in TruthingMember.objects.filter(user=user).select_related("study").order_by("study_id"):
        panel = Panel.of(member.study)
        if member.is_adjudicator:
            disputed = panel.disputed_cases()
            total, done = len(disputed), sum(1 for case in disputed if case.pk in panel.adjudications)
            round_open = None
        else:
            round_open = panel.open_round(member)
            shown = round_open or panel.last_round
            total = len(panel.cases)
            done = sum(1 for case in panel.cases if (case.pk, member.pk, shown) in panel.labels)
        rows.append({"study": member.study_id, "title": member.study.title, "code": member.code,
                     "role": "adjudicator" if member.is_adjudicator else "truther", "round": round_open,
                     "state": panel.state(member), "reason_closed": panel.closed_because,
                     "cases_total": total, "cases_done": done,
                     "disputes_open": panel.disputes_open() if member.is_adjudicator else None})
    return rows


def member_cases(user: User, study_id: int) -> list[dict]:
    """A truther's cases in the round open to them (the last round they worked in when none is); an
    adjudicator's disputed cases, done once adjudicated."""
    study, member = panel_study(user, study_id)
    panel = Panel.of(study)
    if member.is_adjudicator:
        return [{"case": case.pk, "label": case.label, "position": i, "round": None,
                 "done": case.pk in panel.adjudications, "study_instance_uid": case.study_instance_uid}
                for i, case in enumerate(panel.disputed_cases(), start=1)]
    number = panel.open_round(member) or _last_worked_round(panel, member)
    return [{"case": case.pk, "label": case.label, "position": i, "round": number,
             "done": (case.pk, member.pk, number) in panel.labels, "study_instance_uid": case.study_instance_uid}
            for i, case in enumerate(panel.cases, start=1)]


def _last_worked_round(panel: Panel, member: TruthingMember) -> int:
    rounds = [number for (_, member_id, number) in panel.labels if member_id == member.pk]
    return max(rounds, default=1)


def member_case(user: User, study_id: int, case_id: int) -> dict:
    """One case as the workstation's truthing mode shows it to a member (see the API for the shape)."""
    study, member = panel_study(user, study_id)
    panel = Panel.of(study)
    case = next((case for case in panel.cases if case.pk == case_id), None)
    if case is None:
        raise NotFound("no such case in this study")
    base = {"case": case.pk, "label": case.label, "study_instance_uid": case.study_instance_uid,
            "marks_allowed": list(panel.rule.get("marks", []))}
    if member.is_adjudicator:
        return base | _adjudicator_view(panel, case)
    number = panel.open_round(member) or _last_worked_round(panel, member)
    own = panel.labels.get((case.pk, member.pk, number))
    reason = panel.closed_because or ("" if panel.open_round(member) == number else _waiting_reason(panel, member))
    if not reason and own is not None:
        reason = f"labelled in round {number}; a label is final once submitted"
    others = []
    if number == 2:  # LIDC: the other experts' blinded reads are shown in the unblinded round
        others = [{"member": other.code, "round": 1, "label": label.label, "lesions": label.lesions}
                  for other in panel.truthers if other.pk != member.pk
                  and (label := panel.labels.get((case.pk, other.pk, 1))) is not None]
    return base | {"round": number, "is_open": not reason, "reason_closed": reason,
                   "own": None if own is None else {"label": own.label, "lesions": own.lesions, "comment": own.comment},
                   "others": others}


def _waiting_reason(panel: Panel, member: TruthingMember) -> str:
    if all((case.pk, member.pk, panel.last_round) in panel.labels for case in panel.cases):
        return "you have labelled every case"
    return "round 2 opens once every truther has labelled every case in round 1"


def _adjudicator_view(panel: Panel, case: Case) -> dict:
    outcome = panel.outcome(case)
    decision = panel.adjudications.get(case.pk)
    if panel.closed_because:
        reason = panel.closed_because
    elif outcome is None:
        reason = "the panel has not finished labelling this case"
    elif not outcome.disputed:
        reason = "the panel agrees on this case: it needs no adjudication"
    else:
        reason = "adjudicated; an adjudication is final" if decision else ""
    return {"round": None, "is_open": not reason, "reason_closed": reason,
            "own": None if decision is None else {"label": decision.label, "lesions": decision.lesions,
                                                  "comment": decision.note},
            "others": _panel_labels(panel, case)}


def _panel_labels(panel: Panel, case: Case) -> list[dict]:
    return [{"member": member.code, "round": number, "label": label.label, "lesions": label.lesions}
            for number in range(1, panel.last_round + 1) for member in panel.truthers
            if (label := panel.labels.get((case.pk, member.pk, number))) is not None]


def disputes(user: User, study_id: int) -> list[dict]:
    """The cases the panel disagrees on after the last round, why, every label, and whether adjudicated.
    For the adjudicator and those who may change the study."""
    study = _study_for_disputes(user, study_id)
    panel = Panel.of(study)
    return [{"case": case.pk, "label": case.label, "study_instance_uid": case.study_instance_uid,
             "why": panel.outcome(case).why, "labels": _panel_labels(panel, case),
             "adjudicated": case.pk in panel.adjudications}
            for case in panel.disputed_cases()]


def _study_for_disputes(user: User, study_id: int) -> Study:
    if has_action(user, Action.TRUTH_CASES):
        study, member = panel_study(user, study_id)
        if not member.is_adjudicator:
            raise NotAllowed("only the adjudicator sees the panel's disputes")
        return study
    study = visible_studies(user).filter(pk=study_id).first()
    if study is None:
        raise NotFound("no such study")
    require(user, Action.CHANGE_STUDY, study)
    return study


# ---------------------------------------------------------------- marks


def clean_marks(lesions, allowed: list[str], *, where: str = "lesions") -> list[dict]:
    """Validated marks ``{type, sop_instance_uid, frame, points}`` (frames numbered from 1, as readers' marks and
    imported lesions are) with numbers as floats; errors name the field."""
    if not isinstance(lesions, list):
        raise InvalidInput("must be a list of marks", field=where)
    if len(lesions) > MAX_MARKS:
        raise InvalidInput(f"at most {MAX_MARKS} marks", field=where)
    return [_clean_mark(mark, allowed, f"{where}[{i}]") for i, mark in enumerate(lesions)]


def _clean_mark(mark, allowed: list[str], where: str) -> dict:
    if not isinstance(mark, dict):
        raise InvalidInput("must be a mark {type, sop_instance_uid, frame, points}", field=where)
    check_keys(mark, {"type", "sop_instance_uid", "frame", "points"}, where)
    kind = mark.get("type")
    if kind not in allowed:
        allowed_text = ", ".join(allowed) if allowed else "none (the rule asks for labels only)"
        raise InvalidInput(f"'{kind}' is not a mark this study allows: {allowed_text}", field=f"{where}.type")
    uid = mark.get("sop_instance_uid")
    if not isinstance(uid, str) or len(uid) > 64 or not UID.match(uid):
        raise InvalidInput("must be a DICOM UID (digits and dots, at most 64)", field=f"{where}.sop_instance_uid")
    frame = mark.get("frame", 1)
    if not isinstance(frame, int) or isinstance(frame, bool) or not 1 <= frame <= 100_000:
        raise InvalidInput("must be a frame number from 1 to 100000 (1 on a single-frame image)",
                           field=f"{where}.frame")
    points = _clean_points(mark.get("points"), f"{where}.points")
    count = {"box": (2, 2), "point": (1, 1), "polygon": (3, MAX_POLYGON_POINTS)}[kind]
    if not count[0] <= len(points) <= count[1]:
        wanted = {"box": "two corners", "point": "one point", "polygon": f"3 to {MAX_POLYGON_POINTS} points"}[kind]
        raise InvalidInput(f"a {kind} has {wanted}", field=f"{where}.points")
    if kind == "box" and (points[0][0] == points[1][0] or points[0][1] == points[1][1]):
        raise InvalidInput("a box's corners must differ in x and in y", field=f"{where}.points")
    if kind == "polygon" and not is_simple(np.array(points)):
        raise InvalidInput("a polygon's edges must not cross and it must enclose an area", field=f"{where}.points")
    return {"type": kind, "sop_instance_uid": uid, "frame": frame, "points": points}


def _clean_points(points, where: str) -> list[list[float]]:
    if not isinstance(points, list) or not points:
        raise InvalidInput("must be a list of [x, y] pairs", field=where)
    if len(points) > MAX_POLYGON_POINTS:
        raise InvalidInput(f"at most {MAX_POLYGON_POINTS} points", field=where)
    for i, pair in enumerate(points):
        if (not isinstance(pair, list) or len(pair) != 2 or not all(is_number(v) for v in pair)
                or not all(abs(v) <= COORDINATE_LIMIT for v in pair)):
            raise InvalidInput(f"must be [x, y] in pixels (numbers within ±{COORDINATE_LIMIT:g})",
                               field=f"{where}[{i}]")
    return [[float(x), float(y)] for x, y in points]


def _as_mark(mark: dict) -> Mark:
    return Mark(mark["type"], (mark["sop_instance_uid"], mark.get("frame", 1)),
                tuple((float(x), float(y)) for x, y in mark["points"]))


def _check_label_and_marks(rule: dict, label, lesions, comment, *, text_field: str) -> list[dict]:
    if label not in (0, 1) or isinstance(label, bool):
        raise InvalidInput("must be 1 (diseased) or 0 (not)", field="label")
    marks = clean_marks(lesions, rule.get("marks", []))
    if label == 0 and marks:
        raise InvalidInput("a case labelled 0 has no lesion marks", field="lesions")
    if not isinstance(comment, str) or len(comment) > MAX_TEXT:
        raise InvalidInput(f"must be text of at most {MAX_TEXT} characters", field=text_field)
    return marks


# ---------------------------------------------------------------- labels


def submit_label(*, user: User, study_id: int, case_id: int, round: int, idempotency_key, label: int,
                 lesions: list, comment: str = "", opened_at: datetime | None = None) -> tuple[TruthLabel, bool]:
    """Store a truther's label of a case in a round; returns ``(label, created)``. A retry with the same key returns
    the stored label; a second label of the same case and round under another key is refused as a twin
    (:class:`AlreadyRead`): a label is final once submitted."""
    idempotency_key = uuid.UUID(str(idempotency_key))
    try:
        return _create_label(user, study_id, case_id, round, idempotency_key, label, lesions, comment, opened_at)
    except IntegrityError:  # a concurrent twin won: the unique constraints decide
        stored = TruthLabel.objects.filter(idempotency_key=idempotency_key).select_related("member").first()
        if stored is not None:
            return _replay(stored, user, case_id, round), False
        raise AlreadyRead(f"you have labelled this case in round {round} already") from None


def _replay(stored: TruthLabel, user: User, case_id: int, round: int) -> TruthLabel:
    if stored.member.user_id != user.pk or stored.case_id != case_id or stored.round != round:
        raise RuleViolation("this idempotency key belongs to another label")
    return stored


@transaction.atomic
def _create_label(user, study_id, case_id, round, idempotency_key, label, lesions, comment, opened_at):
    stored = TruthLabel.objects.filter(idempotency_key=idempotency_key).select_related("member").first()
    if stored is not None:
        return _replay(stored, user, case_id, round), False
    study, member = panel_study(user, study_id)
    member = TruthingMember.objects.select_for_update().get(pk=member.pk)  # one label at a time per member
    if member.is_adjudicator:
        raise NotAllowed("the adjudicator does not label cases; they adjudicate the disputed ones")
    if not study.cases.filter(pk=case_id).exists():
        raise NotFound("no such case in this study", field="case")
    if TruthLabel.objects.filter(case_id=case_id, member=member, round=round).exists():
        raise AlreadyRead(f"you have labelled this case in round {round} already")
    panel = Panel.of(study)
    if panel.closed_because:
        raise RuleViolation(panel.closed_because)
    if round not in range(1, panel.last_round + 1):
        raise InvalidInput(f"must be a round of this study (1 to {panel.last_round})", field="round")
    if panel.open_round(member) != round:
        if round == 2 and not panel.round_complete(1):
            raise RuleViolation("round 2 opens once every truther has labelled every case in round 1", field="round")
        raise RuleViolation(f"round {round} is not open to you", field="round")
    marks = _check_label_and_marks(panel.rule, label, lesions, comment, text_field="comment")
    now = timezone.now()
    duration = None
    if opened_at is not None and opened_at <= now:
        duration = min(int((now - opened_at).total_seconds() * 1000), 2**31 - 1)
    return TruthLabel.objects.create(case_id=case_id, member=member, round=round, label=label, lesions=marks,
                                     comment=comment, opened_at=opened_at, duration_ms=duration,
                                     idempotency_key=idempotency_key), True


# ---------------------------------------------------------------- outcomes and adjudication


@dataclass(frozen=True)
class Outcome:
    """What the panel's last-round labels of a case make of it."""

    label: int | None  # None when disputed
    method: str  # consensus | majority | "" (disputed)
    disputed: bool
    why: str
    lesions: tuple  # the matched marks averaged, in the truth's lesion format


def case_outcome(rule: dict, labels: list[TruthLabel]) -> Outcome:
    """The outcome of one case from every truther's last-round label (see the module's notes)."""
    values = [label.label for label in labels]
    ones = values.count(1)
    if ones in (0, len(values)):
        decided, method = values[0], "consensus"
    elif rule.get("final") == "majority" and ones * 2 != len(values):
        decided, method = int(ones * 2 > len(values)), "majority"
    else:
        said = ", ".join(f"{label.member.code} {label.label}" for label in labels)
        return Outcome(None, "", True, f"labels differ: {said}", ())
    positives = [label for label in labels if label.label == 1] if decided == 1 else []
    unmatched, groups = _match_panel(rule, positives)
    if unmatched:
        return Outcome(None, "", True, "lesion marks do not match: " + "; ".join(unmatched), ())
    return Outcome(decided, method, False, "", tuple(_averaged(group) for group in groups))


def _match_panel(rule: dict, positives: list[TruthLabel]) -> tuple[list[str], list[list[Mark]]]:
    """Pairwise matching of the positive experts' marks: what is left unmatched, and the groups of marks matched
    to each mark of the first expert."""
    matching = rule.get("matching", DEFAULT_MATCHING)
    marks = {label.member.code: [_as_mark(m) for m in label.lesions] for label in positives}
    unmatched = []
    for first, second in combinations(marks, 2):
        result = match_marks(marks[first], marks[second], iou_threshold=matching["iou"],
                             point_radius=matching["point_radius"])
        left = len(result.unmatched_first) + len(result.unmatched_second)
        if left:
            unmatched.append(f"{first}–{second}: {left} mark{'s' if left > 1 else ''} without a partner")
    if unmatched or not marks:
        return unmatched, []
    reference, *others = marks
    groups = [[mark] for mark in marks[reference]]
    for other in others:
        result = match_marks(marks[reference], marks[other], iou_threshold=matching["iou"],
                             point_radius=matching["point_radius"])
        for pair in result.pairs:
            groups[pair.first].append(marks[other][pair.second])
    return [], groups


def _averaged(group: list[Mark]) -> dict:
    uid, frame = group[0].image
    centres = np.array([mark.centre() for mark in group])
    lesion = {"sop_instance_uid": uid, "frame": frame, "x": round(float(centres[:, 0].mean()), 3),
              "y": round(float(centres[:, 1].mean()), 3)}
    if group[0].kind != POINT:
        lesion["radius"] = round(float(np.mean([mark.radius() for mark in group])), 3)
    return lesion


def truth_lesions(marks: list[dict]) -> list[dict]:
    """An adjudicator's marks in the truth's lesion format (centre and radius)."""
    return [_averaged([_as_mark(mark)]) for mark in marks]


def adjudicate(*, user: User, study_id: int, case_id: int, label: int, lesions: list, note: str,
               idempotency_key) -> tuple[TruthAdjudication, bool]:
    """The adjudicator's truth of a disputed case, with the reason; final once submitted (a retry with its key
    returns it; another decision on the same case is refused as a twin)."""
    idempotency_key = uuid.UUID(str(idempotency_key))
    try:
        return _create_adjudication(user, study_id, case_id, label, lesions, note, idempotency_key)
    except IntegrityError:
        stored = TruthAdjudication.objects.filter(idempotency_key=idempotency_key).select_related("member").first()
        if stored is not None and stored.member.user_id == user.pk and stored.case_id == case_id:
            return stored, False
        raise AlreadyRead("this case is adjudicated already") from None


@transaction.atomic
def _create_adjudication(user, study_id, case_id, label, lesions, note, idempotency_key):
    stored = TruthAdjudication.objects.filter(idempotency_key=idempotency_key).select_related("member").first()
    if stored is not None:
        if stored.member.user_id != user.pk or stored.case_id != case_id:
            raise RuleViolation("this idempotency key belongs to another adjudication")
        return stored, False
    study, member = panel_study(user, study_id)
    if not member.is_adjudicator:
        raise NotAllowed("only the panel's adjudicator adjudicates")
    TruthingMember.objects.select_for_update().get(pk=member.pk)
    panel = Panel.of(study)
    case = next((case for case in panel.cases if case.pk == case_id), None)
    if case is None:
        raise NotFound("no such case in this study", field="case")
    if case.pk in panel.adjudications:
        raise AlreadyRead("this case is adjudicated already")
    if panel.closed_because:
        raise RuleViolation(panel.closed_because)
    outcome = panel.outcome(case)
    if outcome is None:
        raise RuleViolation("the panel has not finished labelling this case", field="case")
    if not outcome.disputed:
        raise RuleViolation("the panel agrees on this case: it needs no adjudication", field="case")
    marks = _check_label_and_marks(panel.rule, label, lesions, note, text_field="note")
    if not note.strip():
        raise InvalidInput("say why the case is decided so", field="note")
    return TruthAdjudication.objects.create(case=case, member=member, label=label, lesions=marks, note=note,
                                            idempotency_key=idempotency_key), True


# ---------------------------------------------------------------- agreement


def agreement(study: Study) -> dict:
    """The panel's agreement: per label (Cohen's kappa for two truthers, Fleiss' for more) in each round, and per
    lesion (Dice and IoU of matched marks) in the last round, each against the rule's threshold; and the disputes.
    Only cases every truther has labelled in the round count."""
    return _agreement(Panel.of(study))


def _agreement(panel: Panel) -> dict:
    thresholds = panel.rule.get("thresholds", {})
    rounds = [_label_agreement(panel, number, thresholds.get("kappa")) for number in range(1, panel.last_round + 1)]
    disputed = panel.disputed_cases()
    return {
        "rule": panel.rule,
        "truthers": [member.code for member in panel.truthers],
        "adjudicator": panel.adjudicator.code if panel.adjudicator else None,
        "cases_total": len(panel.cases),
        "cases_complete": sum(1 for case in panel.cases if panel.last_labels(case) is not None),
        "label": rounds[-1] if rounds else None,
        "label_by_round": rounds,
        "lesion": _lesion_agreement(panel, thresholds.get("dice")),
        "disputes": len(disputed),
        "adjudicated": sum(1 for case in disputed if case.pk in panel.adjudications),
        "final": is_final(panel.study),
    }


def _label_agreement(panel: Panel, number: int, threshold) -> dict:
    complete = [case for case in panel.cases
                if all((case.pk, member.pk, number) in panel.labels for member in panel.truthers)]
    figure = {"round": number, "statistic": "cohen" if len(panel.truthers) == 2 else "fleiss",
              "n_cases": len(complete), "n_truthers": len(panel.truthers), "kappa": None, "se": None,
              "ci": None, "observed_agreement": None, "threshold": threshold, "passed": None}
    if len(panel.truthers) < MIN_TRUTHERS or not complete:
        return figure
    table = np.array([[panel.labels[(case.pk, member.pk, number)].label for case in complete]
                      for member in panel.truthers])
    result = cohen_kappa(table[0], table[1]) if len(panel.truthers) == 2 else fleiss_kappa(table)
    kappa = _finite(result.kappa)
    return figure | {"kappa": kappa, "se": _finite(result.se), "ci": _interval(result.ci),
                     "observed_agreement": _finite(result.observed_agreement),
                     "passed": None if threshold is None or kappa is None else kappa >= threshold}


def _lesion_agreement(panel: Panel, threshold) -> dict | None:
    if not panel.rule.get("marks"):
        return None
    matching = panel.rule.get("matching", DEFAULT_MATCHING)
    matchings = []
    for case in panel.cases:
        labels = panel.last_labels(case)
        if labels is None:
            continue
        for first, second in combinations(labels, 2):
            matchings.append(match_marks([_as_mark(m) for m in first.lesions], [_as_mark(m) for m in second.lesions],
                                         iou_threshold=matching["iou"], point_radius=matching["point_radius"]))
    summary = lesion_agreement(matchings)
    dice = _finite(summary.mean_dice)
    return {"mean_dice": dice, "dice_ci": _interval(summary.dice_ci), "mean_iou": _finite(summary.mean_iou),
            "iou_ci": _interval(summary.iou_ci), "n_pairs": summary.n_pairs, "n_point_pairs": summary.n_point_pairs,
            "n_unmatched": summary.n_unmatched, "mean_point_distance": _finite(summary.mean_point_distance),
            "matching": matching, "threshold": threshold,
            "passed": None if threshold is None or dice is None else dice >= threshold}


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _interval(ci) -> list[float] | None:
    low, high = (_finite(v) for v in ci)
    return None if low is None or high is None else [low, high]


# ---------------------------------------------------------------- the final truth


@transaction.atomic
def finalize(*, actor: User, study: Study) -> dict:
    """Write the panel's truth to every case, with its method, who established it and its provenance; refused
    while a case lacks its last-round labels or a disputed case its adjudication. Closes the truthing."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    panel = Panel.of(study)
    if panel.closed_because:
        raise RuleViolation(panel.closed_because)
    missing = [case.label for case in panel.cases if panel.last_labels(case) is None]
    if missing:
        raise RuleViolation(f"{len(missing)} case(s) lack a truther's round-{panel.last_round} label: "
                            f"{_listed(missing)}")
    pending = [case.label for case in panel.disputed_cases() if case.pk not in panel.adjudications]
    if pending:
        raise RuleViolation(f"{len(pending)} disputed case(s) await the adjudicator: {_listed(pending)}")
    figures = _agreement(panel)
    summary = {"label": figures["label"], "lesion": figures["lesion"], "disputes": figures["disputes"]}
    established_by = _established_by(panel)
    counts = {"consensus": 0, "majority": 0, "adjudicated": 0}
    now = timezone.now().isoformat()
    for case in panel.cases:
        outcome = panel.outcome(case)
        decision = panel.adjudications.get(case.pk)
        if outcome.disputed:
            truth, lesions, method = decision.label, truth_lesions(decision.lesions), Case.TruthMethod.ADJUDICATED
        else:
            truth, lesions, method = outcome.label, list(outcome.lesions), outcome.method
        counts[method] += 1
        case.truth, case.lesions, case.truth_method = truth, lesions, method
        case.truth_established_by = established_by
        case.truth_provenance = {
            "source": PANEL_SOURCE, "rule": panel.rule, "finalized_at": now,
            "labels": [{"member": label.member.code, "round": label.round, "label": label.label,
                        "lesions": label.lesions, "comment": label.comment,
                        "submitted_at": label.submitted_at.isoformat()}
                       for number in range(1, panel.last_round + 1) for member in panel.truthers
                       if (label := panel.labels.get((case.pk, member.pk, number))) is not None],
            "outcome": {"method": method, "why_disputed": outcome.why},
            "adjudication": None if decision is None else {
                "member": decision.member.code, "label": decision.label, "lesions": decision.lesions,
                "note": decision.note, "at": decision.created_at.isoformat()},
            "agreement": summary,
        }
        case.save(update_fields=["truth", "lesions", "truth_method", "truth_established_by", "truth_provenance"])
    result = {"cases": len(panel.cases), "methods": counts, "established_by": established_by, "agreement": figures}
    audit.record(action="truthing.finalized", entity="studies.Study", entity_id=study.pk, study_id=study.pk,
                 actor=actor, after={"cases": len(panel.cases), "methods": counts})
    return result


def _established_by(panel: Panel) -> str:
    text = "Panel " + ", ".join(member.code for member in panel.truthers)
    if panel.adjudicator and panel.adjudications:
        text += f"; adjudicator {panel.adjudicator.code}"
    return text[:200]


def _listed(labels: list[str], most: int = 10) -> str:
    return ", ".join(labels[:most]) + (f" and {len(labels) - most} more" if len(labels) > most else "")
