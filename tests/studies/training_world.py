"""A study with training cases, built through the services where they exist (the training flag by the ORM)."""

import uuid

from studies.models import AIOutput, Case, Reader, Study, User
from studies.services import qualification, schedule, training
from studies.services import studies as study_services
from studies.services.reads import ReadInput
from tests.conftest import create_study

# truth of the training cases T00..T03, and the lesion of each diseased one
TRAINING_TRUTH = (1, 1, 0, 0)
LESION = {"sop_instance_uid": "1.2.3.4", "frame": 1, "x": 40, "y": 60, "radius": 12}
FINDING = {"type": "point", "x": 41, "y": 59, "score": 0.9}
RULE = {"min_cases": 4, "arms": ["unaided", "aided"], "min_auc": 0.75, "min_agreement": 0.75,
        "calibration": {"positives_above_negatives": True, "min_spread": 0.5}}


def add_training_cases(study: Study, truth=TRAINING_TRUTH, start: int = 0) -> list[Case]:
    """Training cases T00.. (from T<start>) with lesions on the diseased ones, metadata of their own, and AI outputs in the
    shown set (the study must still be a draft for those)."""
    shown = study.ai_output_sets.filter(shown=True).first()
    cases = []
    for i, value in enumerate(truth, start=start):
        case = Case.objects.create(
            study=study, label=f"T{i:02d}", truth=value, is_training=True, study_instance_uid=f"9.9.{study.pk}.{i}",
            lesions=[LESION] if value else [], reading_group=7, metadata={"site": "site-T", "training_only": "x"},
        )
        if shown is not None:
            AIOutput.objects.create(study=study, output_set=shown, case=case, model_name=shown.model_name,
                                    model_version=shown.model_version, score=0.9 if value else 0.1, operating_point=0.5,
                                    findings=[FINDING] if value else [])
        cases.append(case)
    return cases


def training_study(coordinator: User, *, rule=RULE, status=Study.Status.ENROLLING, truth=TRAINING_TRUTH,
                   **fields) -> Study:
    """Study cases C000..C003 and training cases T00.. (see ``add_training_cases``), two readers, ``rule``.

    In ``reading`` the readers have not qualified: the status is set past the readiness gate, as for a study
    whose rule came before that gate existed.
    """
    fields.setdefault("decision_threshold", 50)
    study = create_study(coordinator, n_readers=2, n_cases=4, status=Study.Status.DRAFT, **fields)
    add_training_cases(study, truth)
    if rule:
        qualification.set_rule(actor=coordinator, study=study, rule=rule)
    study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    if status == Study.Status.ENROLLING:
        return study
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    Study.objects.filter(pk=study.pk).update(status=status)
    study.refresh_from_db()
    return study


def train(reader: Reader, case: Case, arm: str, rating: float, **values) -> training.TrainingSubmission:
    return training.submit_training_read(user=reader.user, study_id=reader.study_id, case_id=case.pk, arm_name=arm,
                                         idempotency_key=uuid.uuid4(), values=ReadInput(rating=rating, **values))


def train_well(reader: Reader) -> None:
    """Every training case in both arms not read yet, rated by its truth: the example rule is met."""
    for case in reader.study.cases.filter(is_training=True).order_by("pk"):
        for arm in ("unaided", "aided"):
            if not case.training_reads.filter(reader=reader, arm__name=arm).exists():
                train(reader, case, arm, 90 if case.truth else 10)
