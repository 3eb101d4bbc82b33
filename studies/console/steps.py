"""The set-up steps of a study and how far each has come: what the console's overview and study list show.

Counted in one query per list of studies (a subquery per figure), so the list costs the same for one
study as for fifty. Whether a study may actually start reading is the study service's decision
(``transition_study``); these steps only point the coordinator at what is still missing.
"""

from dataclasses import dataclass

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studies.models import AIOutput, Arm, Case, Reader, ReadingSession, Study

S = Study.Status


@dataclass(frozen=True)
class Step:
    key: str  # the console tab that deals with it
    label: str
    done: bool
    detail: str


# Readers who can log in: an invited reader has an unusable password (Django starts those with "!") until they set one.
ACTIVE_READER = Q(user__is_active=True) & ~Q(user__password__startswith=UNUSABLE_PASSWORD_PREFIX)


def _count(queryset, *conditions, **filters):
    """The number of rows of ``queryset`` belonging to the outer study, as an annotation."""
    counted = queryset.filter(*conditions, study=OuterRef("pk"), **filters).order_by().values("study")
    return Coalesce(Subquery(counted.annotate(n=Count("pk")).values("n")[:1], output_field=IntegerField()), Value(0))


def with_counts(studies):
    """``studies`` annotated with the figures :func:`setup_steps` needs."""
    study_cases = Case.objects.filter(is_training=False)
    return studies.annotate(
        n_arms=_count(Arm.objects),
        n_ai_arms=_count(Arm.objects, shows_ai=True),
        n_readers=_count(Reader.objects),
        n_active_readers=_count(Reader.objects, ACTIVE_READER),
        n_cases=_count(study_cases),
        n_training=_count(Case.objects, is_training=True),
        n_truth=_count(study_cases, truth__isnull=False),
        n_images=_count(study_cases, dicom_study__isnull=False),
        n_ai_covered=_count(AIOutput.objects, output_set__shown=True, case__is_training=False),
        n_sessions=_count(ReadingSession.objects),
    )


def setup_steps(study: Study) -> list[Step]:
    """The steps in the order a coordinator takes them; ``study`` comes from :func:`with_counts`."""
    cases = study.n_cases
    training = f" (+{study.n_training} training)" if study.n_training else ""
    invited = study.n_readers - study.n_active_readers
    needs_ai = study.n_ai_arms > 0
    return [
        Step("setup", "Design and arms", study.n_arms > 0,
             f"{study.get_design_display()}; {study.n_arms} arm(s), {study.n_ai_arms} with AI"),
        Step("readers", "Readers", study.n_readers > 0,
             f"{study.n_readers} enrolled" + (f", {invited} not yet active" if invited else "")),
        Step("truth", "Cases and truth", cases > 0 and study.n_truth == cases,
             f"{cases} case(s){training}, {study.n_truth} with truth"),
        Step("images", "Images", cases > 0 and study.n_images == cases, f"{study.n_images} of {cases} case(s) linked"),
        Step("ai", "AI outputs", not needs_ai or (cases > 0 and study.n_ai_covered == cases),
             f"{study.n_ai_covered} of {cases} case(s) in the set shown" if needs_ai else "no arm shows the AI"),
        Step("overview", "Schedule", study.n_sessions > 0,
             f"generated {timezone.localtime(study.schedule_generated_at):%Y-%m-%d %H:%M}"
             if study.schedule_generated_at and study.n_sessions else "not generated"),
        Step("overview", "Reading", study.status not in (S.DRAFT, S.ENROLLING), f"status {study.status}"),
    ]


def next_step(steps: list[Step]) -> Step | None:
    return next((step for step in steps if not step.done), None)

