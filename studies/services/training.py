"""A reader's training: the study's training cases read in the workstation, with feedback after each score.

Training cases (``Case.is_training``, with truth) are read in the training arms
(:func:`studies.services.qualification.training_arms`): each case once in each arm, in the arms' order, and a
training read is final. After each score the reader is shown the case's truth and lesions, the call their read
makes, and in arms that show the AI the AI's output; the AI output is also shown while reading in those arms, as
the study's aided reading shows it. The qualification rule is evaluated after every training read. Training is
open to every enrolled reader, qualified or not, while the study is enrolling or reading
(:func:`studies.rules.training_state`). Nothing here reaches the analysis: training cases are never scheduled.
"""

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from studies.errors import AlreadyRead, NotAllowed, NotFound, RuleViolation
from studies.models import AIOutput, Arm, Case, Reader, Study, TrainingRead, User
from studies.permissions import Action, require
from studies.rules import TRAINING_STATUSES, training_state
from studies.selectors import shown_ai_output
from studies.services import qualification
from studies.services.interactions import checked_interactions
from studies.services.reads import ReadInput, reading_duration_ms, validate_values

FINAL = "training reads are final: you have read this case in this arm"


@dataclass(frozen=True)
class TrainingItem:
    """One training case in one training arm, in the reader's training order."""

    case_id: int
    order: int
    arm: Arm
    is_read: bool
    read_first_in: Arm | None  # the arm the case must be read in before this one, while it is not


@dataclass(frozen=True)
class Training:
    """A reader's training in one study: what is read and what is left, and their qualification."""

    reader: Reader
    is_open: bool
    reason_closed: str
    items: list[TrainingItem]
    evaluation: dict  # the rule's criteria on the reads so far (the one that qualified the reader, once qualified)

    @property
    def qualification(self) -> dict | None:
        """The evaluation, or None where the study requires no qualification."""
        return self.evaluation or None

    @property
    def study(self) -> Study:
        return self.reader.study

    @property
    def n_read(self) -> int:
        return sum(item.is_read for item in self.items)

    @property
    def next_item(self) -> TrainingItem | None:
        return next((item for item in self.items if not item.is_read and item.read_first_in is None), None)


def own_reader(user: User, study_id: int, *, lock: bool = False) -> Reader:
    """``user``'s enrollment as a reader in study ``study_id``, with the study."""
    require(user, Action.READ_CASES)
    readers = Reader.objects.select_related("study")
    if lock:  # one training read of a reader at a time: each evaluation sees every read before it
        readers = readers.select_for_update(of=("self",))
    reader = readers.filter(study_id=study_id, user=user).first()
    if reader is None:  # the same answer whether the study does not exist or is not theirs
        raise NotFound(f"no study {study_id} among yours")
    return reader


def _items(reader: Reader) -> list[TrainingItem]:
    """Every training case in every training arm: case by case, each in the arms' order."""
    arms = qualification.training_arms(reader.study)
    done = set(TrainingRead.objects.filter(reader=reader).values_list("case_id", "arm_id"))
    items = []
    for case_id in qualification.training_cases(reader.study).order_by("pk").values_list("pk", flat=True):
        for position, arm in enumerate(arms):
            before = arms[position - 1] if position else None
            waiting = before is not None and (case_id, before.pk) not in done
            items.append(TrainingItem(case_id, len(items) + 1, arm, (case_id, arm.pk) in done,
                                      before if waiting else None))
    return items


def reader_training(user: User, study_id: int) -> Training:
    """``user``'s training in study ``study_id``: its items, whether it is open, and the evaluation."""
    reader = own_reader(user, study_id)
    return _training(reader)


def _training(reader: Reader) -> Training:
    is_open, why = training_state(reader.study)
    evaluation = reader.qualification if reader.qualified_at else qualification.reader_evaluation(reader)
    return Training(reader, is_open, why, _items(reader), evaluation)


def training_worklist(user: User) -> list[Training]:
    """``user``'s training in each study they read in that has training cases or requires qualification
    and is enrolling or reading (the worklist's training section)."""
    readers = (Reader.objects.filter(user=user, study__status__in=TRAINING_STATUSES).select_related("study")
               .order_by("study_id"))
    trainings = [_training(reader) for reader in readers]
    return [training for training in trainings if training.items or training.study.qualification]


# ---------------------------------------------------------------- one case


@dataclass(frozen=True)
class TrainingCase:
    """One training case in one arm as the reader sees it: feedback only once their score is in."""

    study: Study
    item: TrainingItem
    is_open: bool
    reason_closed: str
    visible_study_instance_uid: str | None
    read: TrainingRead | None
    ai_outputs: list[AIOutput] | None  # arms that show the AI, while open
    feedback: dict | None


def training_case(user: User, study_id: int, case_id: int, arm_name: str) -> TrainingCase:
    """What the workstation needs to read training case ``case_id`` in arm ``arm_name``."""
    reader = own_reader(user, study_id)
    item = _item(reader, case_id, arm_name)
    case = Case.objects.get(pk=case_id)
    is_open, why = training_state(reader.study)
    if is_open and item.read_first_in is not None:
        is_open, why = False, f"read this case in {item.read_first_in.label} first"
    read = TrainingRead.objects.filter(reader=reader, case=case, arm=item.arm).first()
    return TrainingCase(
        study=reader.study, item=item, is_open=is_open, reason_closed=why,
        visible_study_instance_uid=case.study_instance_uid if is_open else None,
        read=read, ai_outputs=_ai_shown(case, item.arm) if is_open else None,
        feedback=feedback(read) if read else None,
    )


def _item(reader: Reader, case_id: int, arm_name: str) -> TrainingItem:
    item = next((item for item in _items(reader) if item.case_id == case_id and item.arm.name == arm_name), None)
    if item is None:
        raise NotFound(f"no training case {case_id} in arm '{arm_name}' of this study")
    return item


def feedback(read: TrainingRead) -> dict:
    """What a reader is shown once their score of a training case is in: the truth, its lesions, the call their
    read makes and whether it agrees, and in arms that show the AI the AI's output."""
    case, study = read.case, read.case.study
    call = qualification.call_of(read.rating, read.decision, study)
    return {
        "truth": case.truth,
        "lesions": case.lesions,
        "call": call,
        "correct": None if call is None else call == (case.truth == 1),
        "ai": _ai_shown(case, read.arm),
    }


def _ai_shown(case: Case, arm: Arm) -> list[AIOutput] | None:
    """The AI output shown with ``case`` in ``arm`` (the study's shown set; none where it has no output for the
    case), or None in an arm that does not show the AI."""
    if not arm.shows_ai:
        return None
    shown = shown_ai_output(case)
    return [shown] if shown else []


# ---------------------------------------------------------------- submitting


@dataclass(frozen=True)
class TrainingSubmission:
    read: TrainingRead
    created: bool
    feedback: dict
    evaluation: dict  # as of the reader's last training read; empty where no qualification is required

    @property
    def qualification(self) -> dict | None:
        return self.evaluation or None


def submit_training_read(*, user: User, study_id: int, case_id: int, arm_name: str, idempotency_key: uuid.UUID,
                         values: ReadInput) -> TrainingSubmission:
    """Store a training score and evaluate the reader; a retry with the same key returns the stored read."""
    idempotency_key = uuid.UUID(str(idempotency_key))
    try:
        read, created = _create_training_read(user, study_id, case_id, arm_name, idempotency_key, values)
    except IntegrityError:
        # A concurrent twin of this request won, or the key is another training read's: the constraints decide.
        read = TrainingRead.objects.select_related("reader", "arm").filter(idempotency_key=idempotency_key).first()
        if read is None:
            raise AlreadyRead(FINAL) from None
        _check_replay(read, user, case_id, arm_name)
        created = False
    evaluation = Reader.objects.values_list("qualification", flat=True).get(pk=read.reader_id)  # as of the last read
    return TrainingSubmission(read, created, feedback(read), evaluation)


def _check_replay(read: TrainingRead, user: User, case_id: int, arm_name: str) -> None:
    if read.reader.user_id != user.pk or read.case_id != case_id or read.arm.name != arm_name:
        raise RuleViolation("this idempotency key belongs to another training read")


@transaction.atomic
def _create_training_read(user, study_id, case_id, arm_name, idempotency_key, values: ReadInput):
    reader = own_reader(user, study_id, lock=True)
    stored = TrainingRead.objects.select_related("reader", "arm").filter(
        reader=reader, case_id=case_id, arm__name=arm_name).first()
    if stored is not None:  # a retry finds its read whatever has changed since
        if stored.idempotency_key != idempotency_key:
            raise AlreadyRead(FINAL)
        return stored, False
    is_open, why = training_state(reader.study)
    if not is_open:
        raise NotAllowed(why)
    item = _item(reader, case_id, arm_name)
    if item.read_first_in is not None:
        raise RuleViolation(f"read this case in {item.read_first_in.label} first")
    validate_values(reader.study, values)
    interactions = checked_interactions(values.interactions)
    read = TrainingRead.objects.create(
        reader=reader, case_id=case_id, arm=item.arm, rating=float(values.rating), decision=values.decision,
        marks=values.marks or [], comment=values.comment or "", opened_at=values.opened_at,
        duration_ms=reading_duration_ms(values), interactions=interactions, idempotency_key=idempotency_key,
    )
    qualification.record_evaluation(reader, user)
    return read, True
