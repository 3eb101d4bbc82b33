"""A second demo study, already read and locked, with one finished analysis run.

Readers' scores follow the Roe & Metz (1997) model with a modest AI benefit; reading
times are log-normal with reader and case effects and a shorter aided read, and each read has
an interaction record like the workstation's (four mammographic views, view changes, AI toggles
in the aided arm). The study is
built through the coordinator's services except for two steps a simulation cannot take: the
reads are written in bulk (with one audit event each, appended together), since simulated
reads cannot pass through the washout of a real schedule, and the study goes to reading
without the readiness gates, since it has no images (nobody reads it).
"""

import csv
import io
import uuid
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone
from scipy import stats

from mrmc.stats import ROE_METZ_STRUCTURES, simulate_roe_metz
from studies.models import AnalysisRun, Assignment, Case, Read, ReadingSession, Role, Study, User
from studies.services import analysis, audit, case_mix, imports, interactions, schedule
from studies.services import studies as study_services
from studies.services.demo import demo_password

ANALYSIS_DEMO_TITLE = "Demo (analysed): screening mammography recall with and without AI"
ANALYSIS_DEMO_SEED = 20261129
ANALYSIS_DEMO_READERS = ("reader1", "reader2", "reader3", "reader4", "reader5")
AI_EFFECT = 0.25  # shift of the diseased mean when aided (latent SD units): a few AUC points
MEDIAN_UNAIDED_SECONDS = 45.0
AIDED_TIME_RATIO = 0.85
DECISION_THRESHOLD = 50.0
VIEWS = 4  # CC and MLO of each breast, each in a viewport of its own
MEAN_CHANGES = {"wl": 1.2, "zoom": 2.0, "pan": 1.0}  # per read, Poisson
MEAN_AI_TOGGLES = 0.6  # per aided read
# The screening population the protocol targets, and the units the cases came from (their shares differ on
# purpose: the report then flags an under-represented group)
POPULATION = {
    "variables": {
        "age_band": {"source": "acquisition", "targets": {"40-49": 0.2, "50-59": 0.3, "60-69": 0.3, "70-79": 0.2}},
        "manufacturer": {"source": "acquisition", "targets": {"Hologic": 0.5, "GE Healthcare": 0.3,
                                                              "Siemens Healthineers": 0.2}},
        "breast_density": {"source": "metadata", "targets": {"A": 0.1, "B": 0.4, "C": 0.4, "D": 0.1}},
        "site": {"source": "metadata", "targets": {"site-1": 0.5, "site-2": 0.5}},
    },
    "rule": {"min_ratio": 0.5, "alpha": 0.05},
}
AGE_BANDS = {"40-49": 0.15, "50-59": 0.4, "60-69": 0.37, "70-79": 0.08}
UNITS = {("Hologic", "Selenia Dimensions", "1.11"): 0.55, ("GE Healthcare", "Senographe Pristina", "ADS_57.10"): 0.35,
         ("Siemens Healthineers", "MAMMOMAT Revelation", "VB10"): 0.1}


def seed_analysis_demo(*, n_cases: int = 120, seed: int = ANALYSIS_DEMO_SEED) -> AnalysisRun:
    """The analysed demo study's finished run (created on first call; safe to run again)."""
    statistician = User.objects.get(username="statistician")
    study = Study.objects.filter(title=ANALYSIS_DEMO_TITLE).first() or create_read_demo_study(
        coordinator=User.objects.get(username="coordinator"), statistician=statistician, n_cases=n_cases, seed=seed
    )
    finished = study.analysis_runs.filter(status=AnalysisRun.Status.SUCCEEDED).first()
    return finished or analysis.analyze_now(actor=statistician, study=study, options={})


@transaction.atomic
def create_read_demo_study(
    *,
    coordinator: User,
    statistician: User,
    n_cases: int = 120,
    seed: int = ANALYSIS_DEMO_SEED,
    readers: tuple[str, ...] = ANALYSIS_DEMO_READERS,
    title: str = ANALYSIS_DEMO_TITLE,
) -> Study:
    """A locked study whose every assignment has a simulated read; readers are created if missing."""
    rng = np.random.default_rng(seed)
    with audit.context(user=coordinator):
        study = _configured_study(coordinator, statistician, readers, title)
        study = case_mix.set_population(actor=coordinator, study=study, population=POPULATION)
        truth = rng.permutation(np.arange(n_cases) % 2 == 1)
        labels = [f"M{i:04d}" for i in range(1, n_cases + 1)]
        imports.import_truth(actor=coordinator, study=study, data=_truth_csv(labels, truth, rng).encode())
        _acquisition(study, np.random.default_rng([seed, 2]))
        imports.import_ai_outputs(actor=coordinator, study=study, data=_ai_csv(labels, truth, rng).encode(),
                                  filename="demo_ai.csv")
        schedule.generate_schedule(actor=coordinator, study=study, seed=seed)
        study.status, study.reading_starts_at = Study.Status.READING, timezone.now()
        study.save(update_fields=["status", "reading_starts_at", "updated_at"])  # audited as a change of the study
        simulate_reads(study=study, seed=seed)
        return study_services.transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)


def _configured_study(coordinator: User, statistician: User, readers: tuple[str, ...], title: str) -> Study:
    study = study_services.create_study(
        actor=coordinator,
        title=title,
        protocol_version="1.0",
        protocol_text="Readers rate their confidence that the screening mammogram shows a cancer (0-100) and "
        "decide whether to recall. Every case is read unaided and, after a 28-day washout, with AI.",
        design=Study.Design.FULLY_CROSSED,
        binary_decision=True,
        decision_threshold=DECISION_THRESHOLD,
        washout_days=28,
    )
    study_services.add_arm(actor=coordinator, study=study, name="unaided", label="Unaided")
    study_services.add_arm(actor=coordinator, study=study, name="aided", label="AI-aided", shows_ai=True)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    for username in readers:
        study_services.enroll_reader(actor=coordinator, study=study, user=_reader(username))
    return study


def _reader(username: str) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"role": Role.READER})
    if created:
        user.set_password(demo_password(username))
        user.save()
    return user


def _truth_csv(labels: list[str], truth: np.ndarray, rng: np.random.Generator) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["case", "truth", "breast_density", "site"])
    for label, diseased in zip(labels, truth, strict=True):
        writer.writerow([label, int(diseased), rng.choice(["A", "B", "C", "D"], p=[0.1, 0.4, 0.4, 0.1]),
                         rng.choice(["site-1", "site-2"])])
    return out.getvalue()


def _acquisition(study: Study, rng: np.random.Generator) -> None:
    """What ingest would have read from each case's images (sex, age band, equipment); each save audited."""
    units = list(UNITS)
    for case in Case.objects.filter(study=study).order_by("id"):
        manufacturer, model, software = units[rng.choice(len(units), p=list(UNITS.values()))]
        case.acquisition = {"sex": "F", "age_band": str(rng.choice(list(AGE_BANDS), p=list(AGE_BANDS.values()))),
                            "manufacturer": manufacturer, "model": model, "software_versions": software,
                            "modality": "MG", "body_part": "BREAST"}
        case.save(update_fields=["acquisition"])


def _ai_csv(labels: list[str], truth: np.ndarray, rng: np.random.Generator) -> str:
    """A binormal AI score with separation 1.6 SD (AUC about 0.87), as a probability."""
    latent = rng.normal(1.6 * truth, 1.0)
    rows = ["case,model_name,model_version,score,operating_point"]
    rows += [f"{label},demo-mammo-ai,2.1,{stats.norm.cdf(x - 0.8):.4f},0.5"
             for label, x in zip(labels, latent, strict=True)]
    return "\n".join(rows)


def simulate_reads(*, study: Study, seed: int, ai_effect: float = AI_EFFECT) -> int:
    """Write a read for every assignment: Roe-Metz ratings on 0-100, decisions at the threshold, timings.

    The treatment order of the simulation follows the arm order (the AI-aided arm second),
    so ``ai_effect`` raises the diseased mean of the aided reads.
    """
    rng = np.random.default_rng(seed)
    record_rng = np.random.default_rng([seed, 1])  # its own stream: the ratings and times stay as they were
    readers = list(study.readers.order_by("id"))
    arms = list(study.arms.order_by("order"))
    cases = list(study.cases.order_by("id"))
    truth = np.array([bool(case.truth) for case in cases])
    latent, _ = simulate_roe_metz(n_readers=len(readers), n_normal=int((~truth).sum()), n_abnormal=int(truth.sum()),
                                  structure="HL2", n_treatments=len(arms), treatment_effect=ai_effect, seed=seed)
    case_column = np.empty(truth.size, dtype=int)  # simulation: non-diseased cases first
    case_column[~truth] = np.arange((~truth).sum())
    case_column[truth] = (~truth).sum() + np.arange(truth.sum())
    ratings = np.clip(np.round(100 * stats.norm.cdf(latent - ROE_METZ_STRUCTURES["HL2"].mu / 2)), 0, 100)
    seconds = _reading_seconds(rng, len(arms), len(readers), truth.size, [arm.shows_ai for arm in arms])
    index = ({a.pk: i for i, a in enumerate(arms)}, {r.pk: i for i, r in enumerate(readers)},
             {c.pk: i for i, c in enumerate(cases)})
    start = timezone.now() - timedelta(days=60)
    reads = []
    for n, assignment in enumerate(Assignment.objects.filter(session__study=study).order_by("id")):
        t, r, c = index[0][assignment.arm_id], index[1][assignment.reader_id], index[2][assignment.case_id]
        rating = float(ratings[t, r, case_column[c]])
        opened = start + timedelta(minutes=2 * n)
        duration = timedelta(seconds=float(seconds[t, r, c]))
        record = _interaction_record(record_rng, duration.total_seconds(), arms[t].shows_ai)
        reads.append(Read(
            assignment=assignment, reader_id=assignment.reader_id, case_id=assignment.case_id,
            arm_id=assignment.arm_id, rating=rating, decision=rating >= DECISION_THRESHOLD,
            opened_at=opened, first_image_at=opened + timedelta(seconds=1), client_submitted_at=opened + duration,
            duration_ms=int(duration.total_seconds() * 1000), idempotency_key=uuid.uuid4(),
            interactions=interactions.checked_interactions(record),
        ))
    Read.objects.bulk_create(reads, batch_size=2000)
    ReadingSession.objects.filter(study=study).update(completed_at=timezone.now())
    audit.append_events([audit.new_event(action="create", entity="studies.Read", entity_id=read.pk, study_id=study.pk,
                                         after=audit.snapshot(read)) for read in reads])
    return len(reads)


def _interaction_record(rng, seconds: float, shows_ai: bool) -> dict:
    """A read's record as the workstation would send it: most of the reading time on the four views (shared
    at random), view changes and, aided, AI toggles, each at a random time of the read in order."""
    dwell = rng.dirichlet(np.ones(VIEWS)) * seconds * 1000 * rng.uniform(0.7, 0.95)
    counts = {kind: int(rng.poisson(mean)) for kind, mean in MEAN_CHANGES.items()}
    toggles = int(rng.poisson(MEAN_AI_TOGGLES)) if shows_ai else 0
    changes = [(int(ds), kind) for kind, n in counts.items() for ds in rng.uniform(0, seconds * 10, n)]
    # the AI's findings start shown: off, on, off, … in the order of their times
    ai = [(int(ds), "ai_off" if i % 2 == 0 else "ai_on")
          for i, ds in enumerate(np.sort(rng.uniform(0, seconds * 10, toggles)))]
    events = [[ds, kind] for ds, kind in sorted(changes + ai, key=lambda event: event[0])]
    return {"v": interactions.VERSION, "images": [[view, 0, int(ms)] for view, ms in enumerate(dwell)],
            **counts, "invert": 0, "ai_toggles": toggles, "events": events, "truncated": False}


def _reading_seconds(rng, n_arms: int, n_readers: int, n_cases: int, shows_ai: list[bool]) -> np.ndarray:
    """Log-normal times: reader (SD 0.25) and case (SD 0.3) effects on the log scale, aided reads shorter."""
    log_time = (np.log(MEDIAN_UNAIDED_SECONDS) + 0.25 * rng.standard_normal((1, n_readers, 1))
                + 0.3 * rng.standard_normal((1, 1, n_cases)) + 0.25 * rng.standard_normal((n_arms, n_readers, n_cases)))
    log_time += np.log(AIDED_TIME_RATIO) * np.array(shows_ai, dtype=float)[:, None, None]
    return np.clip(np.exp(log_time), 5, 600)
