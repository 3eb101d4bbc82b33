"""Analysis runs: freeze a snapshot of a study's reads, analyse it in the background, keep the result.

``start_run`` stores the reads export (``selectors.reads_csv``), the marks snapshot
(``analysis_snapshot.marks_snapshot``: readers' marks, the truth's lesions, the FROC acceptance
radius) and their sha256 on a new :class:`~studies.models.AnalysisRun` and queues a job; the
job's runner analyses exactly that snapshot (:mod:`studies.services.analysis_results`) and
stores the results on the run, which is then immutable. The first successful final
(non-interim) run of a locked study moves it to ``analyzed``.
"""

import csv
import functools
import hashlib
import io
import platform
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import scipy
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from studies import selectors
from studies.errors import DomainError, InvalidInput, RuleViolation
from studies.models import AnalysisRun, Job, Study, User
from studies.permissions import Action, require
from studies.services import audit, jobs
from studies.services.analysis_snapshot import marks_snapshot
from studies.services.studies import ALLOWED_TRANSITIONS

JOB_KIND = "analysis_run"
RUNNABLE_STATUSES = (Study.Status.READING, Study.Status.LOCKED, Study.Status.ANALYZED)
FOM_CHOICES = ("auc", "pauc", "sens", "spec")
COV_CHOICES = ("jackknife", "delong", "unbiased", "bootstrap")
CONVENTION_CHOICES = ("iowa", "mrmcaov")
METHOD_CHOICES = ("or", "ustat")
DEFAULT_OPTIONS = {
    "method": "or",  # "or": Obuchowski-Rockette; "ustat": iMRMC's U-statistic analysis (AUC only)
    "fom": "auc",
    "cov": "jackknife",
    "alpha": 0.05,
    "convention": None,  # OR convention; None: "iowa" when the reads are fully crossed, "mrmcaov" otherwise
    "threshold": None,  # sens/spec threshold; None: the study's decision threshold
    "pauc_range": None,
    "n_bootstrap": 2000,
    "seed": None,
    "subgroup_variables": None,  # None: every case metadata variable
    "min_subgroup_cases": 10,  # per truth class
    "power_effect": 0.05,  # AUC difference the follow-up study should detect
    "r_crosscheck": False,
}


def validate_options(options: dict | None) -> dict:
    """The run's options with defaults filled in; unknown keys or bad values raise InvalidInput."""
    options = {**DEFAULT_OPTIONS, **(options or {})}
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise InvalidInput(f"unknown analysis option(s): {', '.join(sorted(unknown))}")
    for name, choices in (("method", METHOD_CHOICES), ("fom", FOM_CHOICES), ("cov", COV_CHOICES)):
        if options[name] not in choices:
            raise InvalidInput(f"must be one of {', '.join(choices)}", field=name)
    if options["convention"] is not None and options["convention"] not in CONVENTION_CHOICES:
        raise InvalidInput(f"must be one of {', '.join(CONVENTION_CHOICES)}, or null (by design)", field="convention")
    if options["method"] == "ustat":
        _require_ustat_options(options)
    if not isinstance(options["alpha"], (int, float)) or not 0 < options["alpha"] < 0.5:
        raise InvalidInput("must be a number between 0 and 0.5", field="alpha")
    if options["fom"] in ("sens", "spec") and options["threshold"] is None:
        raise InvalidInput("a sensitivity or specificity analysis needs a threshold", field="threshold")
    if options["subgroup_variables"] is not None and not isinstance(options["subgroup_variables"], list):
        raise InvalidInput("must be a list of case metadata names", field="subgroup_variables")
    if not isinstance(options["min_subgroup_cases"], int) or options["min_subgroup_cases"] < 2:
        raise InvalidInput("must be a whole number of at least 2", field="min_subgroup_cases")
    if not isinstance(options["power_effect"], (int, float)) or not 0 < options["power_effect"] < 1:
        raise InvalidInput("must be an AUC difference between 0 and 1", field="power_effect")
    return options


def _require_ustat_options(options: dict) -> None:
    """The U-statistic analysis is of the AUC with its own variance: OR-only options are refused, not ignored."""
    if options["fom"] != "auc":
        raise InvalidInput("the U-statistic analysis (method ustat) is defined for fom auc only", field="method")
    if options["convention"] is not None:
        raise InvalidInput("applies to the OR analysis (method or), not to method ustat", field="convention")


@transaction.atomic
def start_run(*, actor: User, study: Study, options: dict | None = None) -> AnalysisRun:
    """Freeze the study's reads and queue their analysis; poll the run (or its job) for progress."""
    require(actor, Action.RUN_ANALYSIS, study)
    options = validate_options(options)
    job = jobs.enqueue(kind=JOB_KIND, actor=actor, study=study, params={"options": options})
    return _freeze_snapshot(actor=actor, study=study, options=options, job=job)


def analyze_now(*, actor: User, study: Study, options: dict | None = None) -> AnalysisRun:
    """Freeze and analyse in this process (demo seeding, benchmarks); returns the finished run."""
    require(actor, Action.RUN_ANALYSIS, study)
    options = validate_options(options)
    with transaction.atomic():
        job = Job.objects.create(kind=JOB_KIND, study=study, created_by=actor, params={"options": options})
        run = _freeze_snapshot(actor=actor, study=study, options=options, job=job)
    jobs.run(job_pk=job.pk, runners={JOB_KIND: run_analysis_job})
    run.refresh_from_db()
    return run


def _freeze_snapshot(*, actor: User, study: Study, options: dict, job: Job) -> AnalysisRun:
    study = Study.objects.select_for_update().get(pk=study.pk)  # no status change while freezing
    if study.status not in RUNNABLE_STATUSES:
        raise RuleViolation(f"a study can be analysed while reading or after it is locked, not in {study.status}")
    snapshot = selectors.reads_csv(study)
    _refuse_unanalysable(study, snapshot)
    marks = marks_snapshot(study)
    run = AnalysisRun.objects.create(
        study=study,
        job=job,
        created_by=actor,
        options=options,
        is_interim=study.status == Study.Status.READING,
        study_status=study.status,
        snapshot_checksum=_sha256(snapshot),
        snapshot_csv=snapshot,
        marks_snapshot_checksum=_sha256(marks),
        marks_snapshot=marks,
        software_version=software_version(),
    )
    audit.record(action="analysis_started", entity="studies.AnalysisRun", entity_id=run.pk, study_id=study.pk,
                 actor=actor, after={"options": options, "is_interim": run.is_interim,
                                     "snapshot_sha256": run.snapshot_checksum,
                                     "marks_snapshot_sha256": run.marks_snapshot_checksum})
    return run


def _refuse_unanalysable(study: Study, snapshot: str) -> None:
    """Say why the reads so far cannot be compared between arms, rather than let the analysis fail on them."""
    arms_read = Counter(row["treatment"] for row in csv.DictReader(io.StringIO(snapshot)))
    if not arms_read:
        reads = selectors.study_reads(study).count()
        if not reads:
            raise RuleViolation("no reads yet: nothing to analyse")
        raise RuleViolation(f"none of the {reads} reads is of a case with reference-standard truth: "
                            "import the truth of the cases read")
    unread = [name for name in study.arms.values_list("name", flat=True) if name not in arms_read]
    if len(arms_read) == 1 and unread:
        (arm, count), = arms_read.items()
        raise RuleViolation(f"the {count} reads so far are all in arm {arm}: the arms can be compared once cases "
                            f"have been read in {', '.join(unread)} too")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_analysis_job(job: Job) -> dict | jobs.FanOut:
    """Job runner: analyse the run's snapshot and store the results (or why it failed) on the run; a
    bootstrap is first fanned out to the workers (:mod:`studies.services.analysis_bootstrap`)."""
    from studies.services.analysis_bootstrap import bootstrap_fan_out

    run = AnalysisRun.objects.select_related("study", "created_by").get(job=job)
    return bootstrap_fan_out(run) or _analyse(run, job)


def _analyse(run: AnalysisRun, job: Job, bootstrap=None) -> dict:
    """Analyse and store; ``bootstrap``: the primary analysis's bootstrap chunks, computed by the workers."""
    from studies.services.analysis_results import build_results

    try:
        results = build_results(run, progress=functools.partial(jobs.report_progress, job), bootstrap=bootstrap)
    except DomainError as exc:
        _finish(run, error=str(exc))
        raise
    except Exception as exc:
        _finish(run, error=f"internal error: {type(exc).__name__}: {exc}")
        raise
    _finish(run, results=results)
    return {"analysis_run": run.pk, "interim": run.is_interim}


def _compute_bootstrap_chunk(context: dict, params: dict) -> dict:
    from studies.services.analysis_bootstrap import compute_chunk

    return compute_chunk(context, params)


def _analyse_with_bootstrap(context: dict, params: list[dict], outputs: list[dict]) -> dict:
    from studies.services.analysis_bootstrap import chunks_of

    run = AnalysisRun.objects.select_related("study", "created_by", "job").get(pk=context["run"])
    return _analyse(run, run.job, chunks_of(context, outputs))


BOOTSTRAP = jobs.ChunkedWork(chunk=_compute_bootstrap_chunk, merge=_analyse_with_bootstrap)


@receiver(jobs.job_failed)
def fail_run_with_its_job(sender, *, job: Job, message: str, **_) -> None:
    """A run whose job failed before the run could record why (its worker was lost, a chunk failed) fails
    with the job's reason instead of staying pending."""
    for run in AnalysisRun.objects.filter(job_id=job.pk, status=AnalysisRun.Status.PENDING):
        _finish(run, error=f"the analysis job failed: {message}")


@transaction.atomic
def _finish(run: AnalysisRun, *, results: dict | None = None, error: str = "") -> None:
    run.results = results
    run.error = error
    run.status = AnalysisRun.Status.FAILED if error else AnalysisRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["results", "error", "status", "finished_at"])
    audit.record(action="analysis_finished", entity="studies.AnalysisRun", entity_id=run.pk, study_id=run.study_id,
                 actor=run.created_by, after={"status": run.status, "error": error})
    transaction.on_commit(audit.anchor_head)  # the trail as it stood when these results were made
    if not error and not run.is_interim:
        _mark_analyzed(run)


def _mark_analyzed(run: AnalysisRun) -> None:
    """locked -> analyzed, recorded in the audit trail under the run's author."""
    study = Study.objects.select_for_update().get(pk=run.study_id)
    if study.status != Study.Status.LOCKED or Study.Status.ANALYZED not in ALLOWED_TRANSITIONS[study.status]:
        return  # already analyzed by an earlier run
    with audit.context(user=run.created_by):
        study.status = Study.Status.ANALYZED
        study.save(update_fields=["status", "updated_at"])


def visible_runs(study: Study):
    """A study's runs for listing, without the (large) snapshot and results."""
    return study.analysis_runs.select_related("job", "created_by").defer("snapshot_csv", "marks_snapshot", "results")


@functools.cache
def software_version() -> str:
    """The platform's commit and the numerical libraries that produced a result."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return f"mrmc {commit}; python {platform.python_version()}; numpy {np.__version__}; scipy {scipy.__version__}"
