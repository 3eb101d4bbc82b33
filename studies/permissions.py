"""Who may do what: THE role × action table, and the object-scope checks.

A role grants actions; membership (coordinators, statisticians) or enrollment (readers)
decides on which studies. Platform admins act on every study.
"""

from enum import StrEnum

from .errors import NotAllowed
from .models import Role, Study


class Action(StrEnum):
    VIEW_STUDY = "view_study"
    CREATE_STUDY = "create_study"
    CHANGE_STUDY = "change_study"  # design, arms, cases, truth, AI outputs, readers, schedule, status
    VIEW_TRUTH = "view_truth"
    VIEW_AI_OUTPUTS = "view_ai_outputs"
    VIEW_READS = "view_reads"  # every reader's reads, progress, exports, audit trail
    READ_CASES = "read_cases"  # worklist, images of assigned cases, submitting reads


_STAFF_VIEW = {Action.VIEW_STUDY, Action.VIEW_TRUTH, Action.VIEW_AI_OUTPUTS, Action.VIEW_READS}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action) - {Action.READ_CASES},
    Role.COORDINATOR: frozenset(_STAFF_VIEW | {Action.CREATE_STUDY, Action.CHANGE_STUDY}),
    Role.STATISTICIAN: frozenset(_STAFF_VIEW),
    Role.READER: frozenset({Action.READ_CASES}),
}


def role_of(user) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Role.ADMIN if user.is_platform_admin else user.role


def has_action(user, action: Action) -> bool:
    return action in ROLE_ACTIONS.get(role_of(user), frozenset())


def can(user, action: Action, study: Study | None = None) -> bool:
    """True when ``user``'s role grants ``action`` and, for a study, they are on it."""
    if not has_action(user, action):
        return False
    if study is None or role_of(user) == Role.ADMIN:
        return True
    if action == Action.READ_CASES:
        return study.readers.filter(user=user).exists()
    return study.memberships.filter(user=user).exists()


def require(user, action: Action, study: Study | None = None) -> None:
    if not can(user, action, study):
        raise NotAllowed(f"{getattr(user, 'username', 'anonymous')} may not {action.value.replace('_', ' ')}")


def visible_studies(user):
    """Studies a user may see at all (staff via membership, readers via enrollment)."""
    role = role_of(user)
    if role == Role.ADMIN:
        return Study.objects.all()
    if role == Role.READER:
        return Study.objects.filter(readers__user=user).distinct()
    if role in (Role.COORDINATOR, Role.STATISTICIAN):
        return Study.objects.filter(memberships__user=user).distinct()
    return Study.objects.none()
