"""A ready-to-read demo study, built through the same services a coordinator uses."""

import csv
import io
import json
import uuid

import numpy as np
from django.db import transaction

from studies.models import Role, Study, User
from studies.services import audit, imports, schedule
from studies.services import studies as study_services

DEMO_TITLE = "Demo: lung nodule detection on chest radiographs, with and without AI"
DEMO_SEED = 20261128
DEMO_USERS = [
    ("admin", Role.ADMIN, "", None),
    ("coordinator", Role.COORDINATOR, "", None),
    ("statistician", Role.STATISTICIAN, "", None),
    ("reader1", Role.READER, "Thoracic radiology", 12),
    ("reader2", Role.READER, "Thoracic radiology", 4),
    ("reader3", Role.READER, "General radiology", 21),
]


def demo_password(username: str) -> str:
    return f"{username}-demo"


@transaction.atomic
def seed_demo(*, n_cases: int = 24, seed: int = DEMO_SEED) -> tuple[Study, list[tuple[str, str, str]]]:
    """Create demo users and a study in reading status; returns it and (username, password, role)."""
    users = {name: _demo_user(name, role, specialty, years) for name, role, specialty, years in DEMO_USERS}
    credentials = [(name, demo_password(name), role) for name, role, _, _ in DEMO_USERS]
    existing = Study.objects.filter(title=DEMO_TITLE).first()
    if existing is not None:
        return existing, credentials
    coordinator = users["coordinator"]
    with audit.context(user=coordinator):
        study = _demo_study(coordinator, users)
        rng = np.random.default_rng(seed)
        cases = _demo_cases(n_cases, rng)
        imports.import_truth(actor=coordinator, study=study, data=_truth_csv(cases).encode())
        imports.import_ai_outputs(
            actor=coordinator, study=study, data=_ai_json(cases, rng).encode(), filename="demo_ai_outputs.json"
        )
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
        schedule.generate_schedule(actor=coordinator, study=study, seed=seed)
        study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    return study, credentials


def _demo_user(username, role, specialty, years) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"role": role, "specialty": specialty, "years_experience": years, "is_staff": role != Role.READER},
    )
    if created:
        user.is_superuser = role == Role.ADMIN
        user.set_password(demo_password(username))
        user.save()
    return user


def _demo_study(coordinator: User, users: dict) -> Study:
    study = study_services.create_study(
        actor=coordinator,
        title=DEMO_TITLE,
        protocol_version="1.0",
        protocol_text="Readers rate their confidence that the radiograph shows a lung nodule (0-100) "
        "and decide whether to recall. Half of each reader's cases are read with AI in session 1 and the "
        "other half in session 2, after the washout.",
        design=Study.Design.FULLY_CROSSED,
        binary_decision=True,
        decision_threshold=50.0,
        marks_enabled=True,
        max_marks=3,
        washout_days=28,
        block_size=4,
    )
    study_services.add_arm(actor=coordinator, study=study, name="unaided", label="Unaided")
    study_services.add_arm(actor=coordinator, study=study, name="aided", label="AI-aided", shows_ai=True)
    study_services.add_member(actor=coordinator, study=study, user=users["statistician"])
    for name in ("reader1", "reader2", "reader3"):
        study_services.enroll_reader(actor=coordinator, study=study, user=users[name])
    return study


def _demo_cases(n_cases: int, rng: np.random.Generator) -> list[dict]:
    cases = []
    for i in range(1, n_cases + 1):
        diseased = int(i % 2 == 0)
        cases.append(
            {
                "case": f"C{i:03d}",
                "truth": diseased,
                "truth_method": "pathology" if diseased else "follow_up",
                "truth_established_by": "tumor board" if diseased else "24-month imaging follow-up",
                "study_instance_uid": f"2.25.{uuid.UUID(int=int(rng.integers(2**63)) << 64 | i).int}",
                "lesions": [_lesion(rng)] if diseased else [],
                "age_band": str(rng.choice(["40-54", "55-69", "70+"])),
                "sex": str(rng.choice(["F", "M"])),
                "site": str(rng.choice(["site-A", "site-B"])),
            }
        )
    return cases


def _lesion(rng) -> dict:
    return {"x": int(rng.integers(500, 1500)), "y": int(rng.integers(400, 1400)), "radius": int(rng.integers(15, 60))}


def _truth_csv(cases: list[dict]) -> str:
    out = io.StringIO()
    columns = ["case", "truth", "truth_method", "truth_established_by", "study_instance_uid", "lesions",
               "age_band", "sex", "site"]
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    for case in cases:
        writer.writerow({**case, "lesions": json.dumps(case["lesions"])})
    return out.getvalue()


def _ai_json(cases: list[dict], rng: np.random.Generator) -> str:
    """Scores from a binormal model (separation 1.5 SD, AUC about 0.86); boxes near true lesions."""
    outputs = []
    for case in cases:
        latent = rng.normal(1.5 * case["truth"], 1.0)
        score = float(1 / (1 + np.exp(-latent + 0.75)))
        findings = [
            {"type": "box", "x": les["x"] - les["radius"], "y": les["y"] - les["radius"],
             "width": 2 * les["radius"], "height": 2 * les["radius"], "score": round(score, 3)}
            for les in case["lesions"] if score > 0.3
        ]
        outputs.append({"case": case["case"], "score": round(score, 4), "findings": findings})
    model = {"name": "demo-nodule-detector", "version": "1.0.0", "operating_point": 0.5}
    return json.dumps({"model": model, "outputs": outputs}, indent=1)
