"""Who may do what: THE role × action table, and the object-scope checks.

A role grants actions; membership (coordinators, statisticians) or enrollment (readers)
decides on which studies. Platform admins act on every study.
"""

from enum import StrEnum

from django.conf import settings
from django.db.models import Q

from .errors import NotAllowed
from .models import Assignment, Case, DicomStudy, MonitoredDeployment, Role, Study
from .rules import TRAINING_STATUSES, open_sessions


class Action(StrEnum):
    VIEW_STUDY = "view_study"
    CREATE_STUDY = "create_study"
    CHANGE_STUDY = "change_study"  # design, arms, cases, truth, AI outputs, readers, schedule, status
    VIEW_TRUTH = "view_truth"
    VIEW_AI_OUTPUTS = "view_ai_outputs"
    VIEW_READS = "view_reads"  # every reader's reads, progress, exports, audit trail
    READ_CASES = "read_cases"  # worklist, images of assigned cases, submitting reads
    # Start an analysis run: it reads a frozen snapshot and changes no study data, so statisticians may
    # (the locked -> analyzed transition that a primary run makes is the run's outcome, not an edit).
    RUN_ANALYSIS = "run_analysis"
    TRUTH_CASES = "truth_cases"  # a truthing panel's worklist, images of its cases, labels, adjudication
    VIEW_MONITORING = "view_monitoring"  # a monitored deployment's records, windows and alarms (its members)
    CHANGE_MONITORING = "change_monitoring"  # deployments, their records and rules, acknowledging alarms
    # Freeze a locked study as an evaluation and evaluate model updates on it (a change control plan)
    EVALUATE_MODEL_UPDATES = "evaluate_model_updates"


_STAFF_VIEW = {Action.VIEW_STUDY, Action.VIEW_TRUTH, Action.VIEW_AI_OUTPUTS, Action.VIEW_READS}

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action) - {Action.READ_CASES, Action.TRUTH_CASES},
    Role.COORDINATOR: frozenset(_STAFF_VIEW | {Action.CREATE_STUDY, Action.CHANGE_STUDY, Action.RUN_ANALYSIS,
                                               Action.EVALUATE_MODEL_UPDATES, Action.VIEW_MONITORING}),
    Role.STATISTICIAN: frozenset(_STAFF_VIEW | {Action.RUN_ANALYSIS, Action.EVALUATE_MODEL_UPDATES,
                                                Action.VIEW_MONITORING}),
    Role.READER: frozenset({Action.READ_CASES}),
    Role.TRUTHER: frozenset({Action.TRUTH_CASES}),
    Role.MONITOR: frozenset({Action.EVALUATE_MODEL_UPDATES, Action.VIEW_MONITORING, Action.CHANGE_MONITORING}),
}
# Truth may change while the study is in these (studies.services.imports.TRUTH_STATUSES): a panel's images too.
TRUTHING_STATUSES = (Study.Status.DRAFT, Study.Status.ENROLLING, Study.Status.READING)


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
    if action == Action.TRUTH_CASES:
        return study.truthing_members.filter(user=user).exists()
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
    if role in (Role.COORDINATOR, Role.STATISTICIAN, Role.MONITOR):
        return Study.objects.filter(memberships__user=user).distinct()
    return Study.objects.none()


def visible_deployments(user):
    """Monitored deployments a user may see: admins all, other staff and monitors those they are members of."""
    if role_of(user) == Role.ADMIN:
        return MonitoredDeployment.objects.all()
    if has_action(user, Action.VIEW_MONITORING):
        return MonitoredDeployment.objects.filter(members=user)
    return MonitoredDeployment.objects.none()


def can_on_deployment(user, action: Action, deployment) -> bool:
    return has_action(user, action) and (role_of(user) == Role.ADMIN or deployment.members.filter(pk=user.pk).exists())


def can_view_job(user, job) -> bool:
    """A job is seen by its author and by whoever may see its study."""
    own = getattr(user, "is_authenticated", False) and job.created_by_id == user.pk
    return own or (job.study is not None and can(user, Action.VIEW_STUDY, job.study))


# ------------------------------------------------------------------------ images


def open_case_ids(user):
    """Ids of the cases in a reader's sessions that are open right now (a subquery, no query of its own).

    Open as :func:`studies.rules.session_state` says: the study is reading, the washout is over,
    earlier sessions are done and this one is not.
    """
    return Assignment.objects.filter(session__in=open_sessions().filter(reader__user=user)).values("case_id")


def training_case_ids(user):
    """Ids of the training cases of the studies a reader is enrolled in while their training is open
    (:func:`studies.rules.training_state`), qualified or not (a subquery)."""
    return Case.objects.filter(is_training=True, study__status__in=TRAINING_STATUSES,
                               study__readers__user=user).values("pk")


def truthing_case_ids(user):
    """Ids of the cases of the studies on whose truthing panel ``user`` is, while the truthing is open: the study
    has a truthing rule, its truth may still change, and the panel's truth is not final (a subquery)."""
    final = Case.objects.filter(truth_provenance__source="panel").values("study_id")
    return (Case.objects.filter(study__truthing_members__user=user, study__status__in=TRUTHING_STATUSES)
            .exclude(study__truthing={}).exclude(study_id__in=final).values("pk"))


def _reader_cases(user, field: str) -> Q:
    """``field`` is one of the cases whose images a reader may see: those of their open sessions, their training
    cases."""
    return Q(**{f"{field}__in": open_case_ids(user)}) | Q(**{f"{field}__in": training_case_ids(user)})


def dicom_studies_visible_to(user):
    """Stored DICOM studies whose images ``user`` may search and retrieve.

    Readers: the studies linked to cases of their open sessions, and to their training cases. Truthers: those
    linked to the cases of their panels' studies while the truthing is open. Coordinators and
    statisticians: every DICOM study of the reader studies they belong to. Admins: all.
    """
    role = role_of(user)
    if role == Role.ADMIN:
        return DicomStudy.objects.all()
    if role == Role.READER:
        return DicomStudy.objects.filter(_reader_cases(user, "case_id"))
    if role == Role.TRUTHER:
        return DicomStudy.objects.filter(case_id__in=truthing_case_ids(user))
    if role in (Role.COORDINATOR, Role.STATISTICIAN):
        return DicomStudy.objects.filter(study__memberships__user=user).distinct()
    return DicomStudy.objects.none()


def case_study_uids_visible_to(user):
    """StudyInstanceUIDs of the cases whose images ``user`` may see, by the same rules.

    Used in upstream mode, where the images live in an external archive and only the
    cases' UIDs say which study belongs to whom.
    """
    role = role_of(user)
    if role == Role.ADMIN:
        cases = Case.objects.all()
    elif role == Role.READER:
        cases = Case.objects.filter(_reader_cases(user, "pk"))
    elif role == Role.TRUTHER:
        cases = Case.objects.filter(pk__in=truthing_case_ids(user))
    elif role in (Role.COORDINATOR, Role.STATISTICIAN):
        cases = Case.objects.filter(study__memberships__user=user)
    else:
        cases = Case.objects.none()
    return cases.exclude(study_instance_uid="").values_list("study_instance_uid", flat=True).distinct()


def can_view_dicom_study(user, study_instance_uid: str) -> bool:
    """Whether ``user`` may see the images of this DICOM study (every DICOMweb request asks)."""
    if settings.IMAGE_MODE == "upstream":  # filled by others: only the cases say whose images are whose
        return case_study_uids_visible_to(user).filter(study_instance_uid=study_instance_uid).exists()
    return dicom_studies_visible_to(user).filter(study_instance_uid=study_instance_uid).exists()
