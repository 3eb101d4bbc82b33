"""Creating and configuring studies: design, arms, readers, members and the status lifecycle."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mrmc.dicom.pixel_cleaning import parse_rules
from studies.errors import InvalidInput, RuleViolation
from studies.models import Arm, Job, Reader, Role, Study, StudyMembership, User
from studies.permissions import Action, require
from studies.services import jobs, readiness, schedule
from studies.services.endpoints import validate_endpoints

S = Study.Status

ALLOWED_TRANSITIONS = {
    S.DRAFT: {S.ENROLLING},
    S.ENROLLING: {S.DRAFT, S.READING},
    S.READING: {S.LOCKED},
    S.LOCKED: {S.ANALYZED},
    S.ANALYZED: set(),
}
DESIGN_FIELDS = {
    "design",
    "rating_scale",
    "scale_min",
    "scale_max",
    "ordinal_labels",
    "binary_decision",
    "decision_threshold",
    "marks_enabled",
    "max_marks",
    "froc_acceptance_radius",
    "washout_days",
    "block_size",
    "revision_policy",
    "allow_identified_data",
    "endpoints",
}
# pixel cleaning rules concern images still to be ingested, not the reading design
# arms and readers change only before reading can start
SETUP_STATUSES = (S.DRAFT, S.ENROLLING)
EDITABLE_FIELDS = DESIGN_FIELDS | {"title", "protocol_text", "protocol_version", "reading_starts_at", "pixel_cleaning"}


def check_fields(instance) -> None:
    """The model's own field rules (bounds, lengths, choices) on every path, SQLite included;
    the first problem as :class:`InvalidInput` naming the field."""
    try:
        instance.clean_fields(exclude=[field.name for field in instance._meta.fields if field.is_relation])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise InvalidInput(" ".join(messages), field=field) from None


def validate_design(study: Study) -> None:
    """The fields' own rules, then rules across fields that a single-column constraint cannot express."""
    check_fields(study)
    if study.rating_scale == Study.Scale.ORDINAL:
        labels = study.ordinal_labels
        if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
            raise InvalidInput("an ordinal scale needs at least 2 non-empty labels", field="ordinal_labels")
    if study.scale_min >= study.scale_max:
        raise InvalidInput("scale_min must be below scale_max", field="scale_min")
    low, high = study.rating_bounds
    if study.decision_threshold is not None and not low <= study.decision_threshold <= high:
        raise InvalidInput(f"must lie within the rating scale [{low:g}, {high:g}]", field="decision_threshold")
    validate_endpoints(study.endpoints)
    try:
        parse_rules(study.pixel_cleaning)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="pixel_cleaning") from None


def check_design_change(study: Study, changed: set[str]) -> None:
    """The design is fixed once reading can have started: after enrolling, or once a schedule exists."""
    fixed = DESIGN_FIELDS & changed
    if fixed and (study.status not in (S.DRAFT, S.ENROLLING) or study.sessions.exists()):
        raise RuleViolation("the design can only change in draft or enrolling, before a schedule exists "
                            f"(asked to change: {', '.join(sorted(fixed))})")


@transaction.atomic
def create_study(*, actor: User, title: str, **fields) -> Study:
    require(actor, Action.CREATE_STUDY)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(f"unknown study field(s): {', '.join(sorted(unknown))}")
    study = Study(title=title, created_by=actor, **fields)
    validate_design(study)
    study.save()
    StudyMembership.objects.create(study=study, user=actor)
    return study


@transaction.atomic
def update_study(*, actor: User, study: Study, **fields) -> Study:
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise InvalidInput(f"unknown or read-only study field(s): {', '.join(sorted(unknown))}")
    check_design_change(study, set(fields))
    for name, value in fields.items():
        setattr(study, name, value)
    validate_design(study)
    study.save()
    return study


@transaction.atomic
def transition_study(*, actor: User, study: Study, to: str) -> Study:
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    if to not in ALLOWED_TRANSITIONS.get(study.status, set()):
        raise RuleViolation(f"a study cannot go from {study.status} to {to}")
    if to == S.DRAFT and study.sessions.exists():
        raise RuleViolation("delete the schedule before returning the study to draft")
    readiness.require_ready(study, to)
    study.status = to
    if to == S.READING and study.reading_starts_at is None:
        study.reading_starts_at = timezone.now()
    study.save()
    return study


def is_deletable(study: Study) -> bool:
    """Only a draft can go: nothing has been read, scheduled for reading or analysed from it."""
    return study.status == S.DRAFT


@transaction.atomic
def delete_study(*, actor: User, study: Study) -> None:
    """Remove a draft study with everything that belongs to it (arms, cases, AI outputs, readers,
    members, schedule, jobs, image index). The audit trail records every removed row and keeps
    its own events: they name the study by id."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    if not is_deletable(study):
        raise RuleViolation("only a draft study can be deleted")
    study.delete()


@transaction.atomic
def request_schedule(*, actor: User, study: Study, seed: int | None = None) -> Job:
    """Queue the generation of the study's schedule from ``seed`` (random if None); refused at once
    where the job itself would refuse."""
    require(actor, Action.CHANGE_STUDY, study)
    schedule.check_schedule_can_change(study)
    return jobs.enqueue(kind="generate_schedule", actor=actor, study=study, params={"seed": seed})


def arms_fixed_because(study: Study) -> str:
    """Why the study's arms can no longer change; empty while they can. Arms are part of the design: the
    schedule's sessions and counterbalancing are built from them."""
    if study.status not in SETUP_STATUSES:
        return status_rule("arms", SETUP_STATUSES)
    if study.sessions.exists():
        return "arms are fixed once a schedule exists"
    return ""


def check_arms_may_change(study: Study) -> None:
    reason = arms_fixed_because(study)
    if reason:
        raise RuleViolation(reason)


@transaction.atomic
def add_arm(*, actor: User, study: Study, name: str, label: str = "", shows_ai: bool = False) -> Arm:
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    check_arms_may_change(study)
    if study.arms.filter(name=name).exists():
        raise InvalidInput(f"arm '{name}' already exists", field="name")
    order = study.arms.count()
    return Arm.objects.create(study=study, name=name, label=label or name, shows_ai=shows_ai, order=order)


@transaction.atomic
def enroll_reader(*, actor: User, study: Study, user: User, code: str = "", group: int = 0) -> Reader:
    require(actor, Action.CHANGE_STUDY, study)
    _require_status(study, *SETUP_STATUSES, what="readers")
    check_reader_role(user)
    if study.readers.filter(user=user).exists():
        raise RuleViolation(f"{user.username} is already enrolled")
    code = code or f"R{study.readers.count() + 1:02d}"
    if study.readers.filter(code=code).exists():
        raise InvalidInput(f"reader code '{code}' is taken", field="code")
    return Reader.objects.create(study=study, user=user, code=code, group=group)


def reader_user(username: str) -> User:
    """The user to enroll, named by username; InvalidInput on that field where there is none."""
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidInput("no such user", field="username")
    return user


def check_reader_role(user: User) -> None:
    if user.role != Role.READER:
        raise InvalidInput(f"{user.username} does not have the reader role", field="user")


def check_member_role(user: User) -> None:
    """Study members see truth and every read (monitors: the study's locked evaluations only): never a reader."""
    if user.role not in (Role.COORDINATOR, Role.STATISTICIAN, Role.MONITOR, Role.ADMIN):
        raise InvalidInput(f"{user.username} is not a coordinator or statistician (nor a monitor)", field="user")


@transaction.atomic
def add_member(*, actor: User, study: Study, user: User) -> StudyMembership:
    require(actor, Action.CHANGE_STUDY, study)
    check_member_role(user)
    membership, _ = StudyMembership.objects.get_or_create(study=study, user=user)
    return membership


def _require_status(study: Study, *allowed: str, what: str) -> None:
    if study.status not in allowed:
        raise RuleViolation(status_rule(what, allowed))


def status_rule(what: str, allowed: tuple[str, ...]) -> str:
    return f"{what} can only change while the study is {' or '.join(allowed)}"

