"""A ready-to-read demo study, built through the same services a coordinator uses."""

import csv
import io
import json
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction

from mrmc.dicom.deid import remap_uid
from mrmc.dicom.synth import DemoSet, make_demo_set
from mrmc.inference.demo_detector import SHIPPED_CARD, SHIPPED_MODEL
from studies.models import Case, Role, Study, User
from studies.services import audit, imports, ingest, precompute, schedule
from studies.services import studies as study_services
from studies.services.demo_field_monitoring import DEMO_MONITORING_USERS, seed_monitored_deployment
from studies.services.demo_truthing import DEMO_TRUTHING_USERS, TRUTHING_DEMO_CASES, TRUTHING_DEMO_TITLE, add_demo_panel

DEMO_TITLE = "Demo: lung nodule detection on chest radiographs, with and without AI"
DEMO_SEED = 20261128
DEMO_IMAGE_SHAPE = (2048, 2048)
DEMO_USERS = [
    ("admin", Role.ADMIN, "", None),
    ("coordinator", Role.COORDINATOR, "", None),
    ("statistician", Role.STATISTICIAN, "", None),
    ("reader1", Role.READER, "Thoracic radiology", 12),
    ("reader2", Role.READER, "Thoracic radiology", 4),
    ("reader3", Role.READER, "General radiology", 21),
    *DEMO_TRUTHING_USERS,
    *DEMO_MONITORING_USERS,
]


def demo_password(username: str) -> str:
    return f"{username}-demo"


@transaction.atomic
def seed_demo(
    *, n_cases: int = 24, seed: int = DEMO_SEED, image_shape: tuple[int, int] = DEMO_IMAGE_SHAPE
) -> tuple[Study, list[tuple[str, str, str]]]:
    """Create demo users and a study in reading status; returns it and (username, password, role).

    The cases are synthetic chest radiographs (:func:`mrmc.dicom.synth.make_demo_set`), ingested
    de-identified through the same service as real images, so readers see served images.
    """
    users = {name: _demo_user(name, role, specialty, years) for name, role, specialty, years in DEMO_USERS}
    credentials = [(name, demo_password(name), role) for name, role, _, _ in DEMO_USERS]
    seed_monitored_deployment(users=users)
    existing = Study.objects.filter(title=DEMO_TITLE).first()
    if existing is not None:
        return existing, credentials
    coordinator = users["coordinator"]
    with audit.context(user=coordinator):
        study = _demo_study(coordinator, users)
        demo = demo_images(n_cases=n_cases, seed=seed, shape=image_shape)
        key = ingest.deid_key_for(study)
        imports.import_truth(actor=coordinator, study=study, data=_truth_csv(demo, key).encode())
        report = ingest.ingest(
            actor=coordinator, study=study, sources=ingest.dicom_sources(demo.image_paths), total=len(demo.image_paths)
        )
        if report.rejected or len(report.linked) != n_cases:
            raise RuntimeError(f"demo images did not ingest cleanly: {report.as_dict()}")
        _compute_ai_outputs(coordinator, study)
        study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
        schedule.generate_schedule(actor=coordinator, study=study, seed=seed)
        study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
        _truthing_demo_study(coordinator, users, seed=seed + 1, image_shape=image_shape)
    return study, credentials


def _truthing_demo_study(coordinator: User, users: dict, *, seed: int, image_shape: tuple[int, int]) -> Study:
    """A draft study of its own for the truthing panel: its cases and images without truth, which the panel
    establishes (studies.services.demo_truthing)."""
    study = study_services.create_study(actor=coordinator, title=TRUTHING_DEMO_TITLE, protocol_version="1.0",
                                        design=Study.Design.FULLY_CROSSED)
    study = add_demo_panel(coordinator=coordinator, study=study, users=users)
    demo = demo_images(n_cases=TRUTHING_DEMO_CASES, seed=seed, shape=image_shape)
    cases = "case,study_instance_uid\n" + "".join(
        f"{row['case_id']},{row['study_instance_uid']}\n" for row in csv.DictReader(demo.truth_csv.open(newline="")))
    imports.import_truth(actor=coordinator, study=study, data=cases.encode())
    report = ingest.ingest(actor=coordinator, study=study, sources=ingest.dicom_sources(demo.image_paths),
                           total=len(demo.image_paths))
    if report.rejected or len(report.linked) != TRUTHING_DEMO_CASES:
        raise RuntimeError(f"the truthing demo's images did not ingest cleanly: {report.as_dict()}")
    return study


def _demo_user(username, role, specialty, years) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"role": role, "specialty": specialty, "years_experience": years,
                  "is_staff": role not in (Role.READER, Role.TRUTHER, Role.MONITOR)},
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


def demo_images(*, n_cases: int, seed: int, shape: tuple[int, int]) -> DemoSet:
    """Synthetic chest radiographs with known nodules, written once under the data folder."""
    folder = Path(settings.DATA_DIR) / "demo_images" / f"dx-{n_cases}-{seed}-{shape[0]}x{shape[1]}"
    if not (folder / "truth.csv").exists():
        staging = folder.with_name(folder.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        make_demo_set(staging, n_cases=n_cases, seed=seed, modality="DX", shape=shape)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    paths = tuple(sorted((folder / "images").rglob("*.dcm")))
    return DemoSet(paths, folder / "truth.csv", folder / "ai_outputs.json", ())


def _truth_csv(demo: DemoSet, key: bytes) -> str:
    """The generator's truth.csv in the import format; lesions point at the de-identified images."""
    out = io.StringIO()
    rows = list(csv.DictReader(demo.truth_csv.open(newline="")))
    subgroups = ["age_band", "sex", "site", "vendor", "lesion_kind", "lesion_diameter_mm"]
    writer = csv.DictWriter(out, ["case", "truth", "truth_method", "truth_established_by", "study_instance_uid",
                                  "lesions", *subgroups])
    writer.writeheader()
    for row in rows:
        lesions = [{**lesion, "sop_instance_uid": remap_uid(lesion["sop_instance_uid"], key)}
                   for lesion in json.loads(row["lesions"] or "[]")]
        writer.writerow({
            "case": row["case_id"], "truth": row["truth"], "truth_method": Case.TruthMethod.OTHER,
            "truth_established_by": row["truth_method"], "study_instance_uid": row["study_instance_uid"],
            "lesions": json.dumps(lesions), **{name: row[name] for name in subgroups},
        })
    return out.getvalue()


def _compute_ai_outputs(coordinator: User, study: Study) -> None:
    """The demo's AI outputs, computed by the platform's pipeline with the shipped demo detector."""
    model = precompute.register_model(actor=coordinator, study=study, model_data=SHIPPED_MODEL.read_bytes(),
                                      card_data=SHIPPED_CARD.read_bytes(), file_name=SHIPPED_MODEL.name)
    result = precompute.precompute_in_process(actor=coordinator, model=model, run=precompute.Settings(device="cpu"))
    if result["failed"] or result["cases_without_output"]:
        raise RuntimeError(f"the demo detector did not score every case: {result}")
