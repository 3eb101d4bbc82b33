"""Set-up changes the console offers beyond :mod:`studies.services.studies`: an arm's name, label and
whether it shows the AI, the arms' order, and removing an enrolled reader.

Arms change, like the design, only in draft or enrolling and before a schedule exists
(:func:`studies.services.studies.arms_fixed_because`); whether an arm shows the AI is fixed too once
training cases were read in it. A reader leaves only while no schedule names them and before their
first training read.
"""

from django.db import transaction
from django.db.models import Max

from studies.errors import InvalidInput, RuleViolation
from studies.models import Arm, Reader, User
from studies.permissions import Action, require
from studies.services.studies import SETUP_STATUSES, check_arms_may_change, check_fields, status_rule


@transaction.atomic
def update_arm(*, actor: User, arm: Arm, name: str, label: str, shows_ai: bool) -> Arm:
    require(actor, Action.CHANGE_STUDY, arm.study)
    arm = Arm.objects.select_for_update().select_related("study").get(pk=arm.pk)
    check_arms_may_change(arm.study)
    if arm.study.arms.filter(name=name).exclude(pk=arm.pk).exists():
        raise InvalidInput(f"arm '{name}' already exists", field="name")
    if name != arm.name and arm.name in arm.study.qualification.get("arms", []):
        # the rule names its training arms: renamed under it, the arm would silently leave the training
        raise RuleViolation(f"the qualification rule's training arms name '{arm.name}': take it out of the rule "
                            "before renaming it", field="name")
    if shows_ai != arm.shows_ai and arm.training_reads.exists():
        # the training reads kept in the arm were read with (or without) the AI: the feedback and the
        # qualification evaluated on them would no longer say what the readers saw
        raise RuleViolation(f"training cases were read in '{arm.name}' as it {'shows' if arm.shows_ai else 'hides'} "
                            "the AI: whether it shows the AI is fixed", field="shows_ai")
    arm.name, arm.label, arm.shows_ai = name, label or name, shows_ai
    check_fields(arm)
    arm.save()
    return arm


@transaction.atomic
def move_arm(*, actor: User, arm: Arm, by: int) -> Arm:
    """Swap the arm with the one ``by`` places later (negative: earlier); at either end nothing moves."""
    require(actor, Action.CHANGE_STUDY, arm.study)
    arm = Arm.objects.select_for_update().select_related("study").get(pk=arm.pk)
    check_arms_may_change(arm.study)
    arms = list(arm.study.arms.select_for_update().order_by("order", "id"))
    position = arms.index(arm) + by
    if not 0 <= position < len(arms):
        return arm
    other = arms[position]
    swapped = (other.order, arm.order)
    # (study, order) is unique: one arm steps aside while the other takes its place.
    arm.order = (arm.study.arms.aggregate(top=Max("order"))["top"] or 0) + 1
    arm.save(update_fields=["order"])
    other.order = swapped[1]
    other.save(update_fields=["order"])
    arm.order = swapped[0]
    arm.save(update_fields=["order"])
    return arm


@transaction.atomic
def remove_reader(*, actor: User, reader: Reader) -> None:
    """Unenroll a reader (the account stays); refused past enrolling, once a schedule names them, or
    once they have read training cases."""
    require(actor, Action.CHANGE_STUDY, reader.study)
    reader = Reader.objects.select_for_update().select_related("study").get(pk=reader.pk)
    reason = removal_refused_because(reader)
    if reason:
        raise RuleViolation(reason)
    reader.delete()


def removal_refused_because(reader: Reader) -> str:
    """Why the reader can no longer be removed from the study; empty while they can."""
    if reader.study.status not in SETUP_STATUSES:
        return status_rule("readers", SETUP_STATUSES)
    if reader.sessions.exists():
        return f"{reader.code} is in the reading schedule: readers are fixed once scheduled"
    if reader.training_reads.exists():
        return f"{reader.code} has read training cases: their qualification reads are kept"
    return ""
