"""Simulated power and sample size of a planned design, with a finished analysis run as the pilot.

The job fits the planned design's model to the run's frozen reads (:mod:`mrmc.stats.power_plan`)
and fans out: each chunk of :data:`CHUNK_STUDIES` simulated studies of one planned reader count is
a task any worker may take (:class:`studies.services.jobs.FanOut`). Chunk ``i`` is seeded from the
job's seed and ``i`` alone (:func:`mrmc.stats.power_sim.chunk_seed`), so the merged power is the
one :func:`mrmc.stats.power_sim.simulated_power` gives in one process with the same seed.
"""

from dataclasses import asdict
from itertools import groupby

from mrmc.stats import StudyDataError
from mrmc.stats.power_plan import PowerPlan, model_from_pilot_study, plan_specs
from mrmc.stats.power_sim import DESIGNS, chunk_sizes, combine_chunks, power_chunk
from studies.errors import InvalidInput, RuleViolation
from studies.models import AnalysisRun, Job, User
from studies.permissions import Action, require
from studies.services import audit, jobs
from studies.services.analysis_results import analysis_options, plain
from studies.services.analysis_snapshot import parse_snapshot

CHUNK_STUDIES = 250  # studies per task; with the seed it fixes the simulated studies, so it is recorded
MAX_STUDIES = 200_000  # simulated studies per job, all reader counts together
MAX_SIZES = 40  # (reader count, case count) pairs per job


def start_power_simulation(
    *, actor: User, run: AnalysisRun, plan: dict, n_studies: int, seed: int, target_power: float = 0.8
) -> Job:
    """Queue the simulated power of ``plan`` (the fields of :class:`mrmc.stats.power_plan.PowerPlan`)
    with ``run`` as the pilot; poll the returned job. Its result gives the power of every planned
    (readers, cases) pair and, per reader count, the fewest planned cases reaching ``target_power``."""
    require(actor, Action.RUN_ANALYSIS, run.study)
    planned = _checked_plan(plan, n_studies)
    if not 0 < target_power < 1:
        raise InvalidInput("target_power: between 0 and 1")
    if run.status != AnalysisRun.Status.SUCCEEDED:
        raise RuleViolation(f"the pilot run {run.pk} has not succeeded ({run.status})")
    if run.options["fom"] != "auc" and planned.design != "froc":
        raise RuleViolation(f"a pilot for AUC power is a run of the AUC, not of {run.options['fom']}")
    params = {"run": run.pk, "plan": asdict(planned), "n_studies": n_studies, "seed": seed,
              "chunk_studies": CHUNK_STUDIES, "target_power": target_power}
    job = jobs.enqueue(kind=jobs.Kind.POWER_SIMULATION, actor=actor, study=run.study, params=params)
    audit.record(action="power_simulation_started", entity="studies.Job", entity_id=job.pk,
                 study_id=run.study_id, actor=actor, after=params)
    return job


def _checked_plan(plan: dict, n_studies: int) -> PowerPlan:
    readers, cases = tuple(plan.get("readers") or ()), tuple(plan.get("cases") or ())
    if plan.get("design") not in DESIGNS:
        raise InvalidInput(f"design: choose one of {', '.join(DESIGNS)}")
    if not 1 <= len(readers) * len(cases) <= MAX_SIZES:
        raise InvalidInput(f"readers, cases: give 1 to {MAX_SIZES} (reader count, case count) pairs in all")
    if n_studies * len(readers) * len(cases) > MAX_STUDIES:
        raise InvalidInput(f"studies x sizes is {n_studies * len(readers) * len(cases)}; at most {MAX_STUDIES} per job")
    if (plan.get("design") == "split_plot") != (plan.get("groups") is not None):
        raise InvalidInput("groups: given for the split_plot design, and only for it")
    if plan.get("missing") and plan["design"] not in ("fully_crossed", "split_plot"):
        raise InvalidInput("missing: reads missing at random are simulated for fully_crossed and split_plot designs")
    if plan.get("groups") is not None and any(count < 2 * plan["groups"] for count in readers):
        raise InvalidInput("groups: every reader count needs at least 2 readers per group")
    try:
        return PowerPlan(**{**plan, "readers": readers, "cases": cases})
    except (TypeError, ValueError) as exc:
        raise InvalidInput(str(exc)) from exc


def run_power_job(job: Job) -> jobs.FanOut:
    """Job runner: fit the model to the pilot run and fan the simulated studies out in chunks."""
    run = AnalysisRun.objects.select_related("study").filter(pk=job.params["run"]).first()
    if run is None:
        raise RuleViolation(f"the pilot run {job.params['run']} no longer exists")
    plan = PowerPlan(**{**job.params["plan"], "readers": tuple(job.params["plan"]["readers"]),
                        "cases": tuple(job.params["plan"]["cases"])})
    snapshot = parse_snapshot(run.snapshot_csv)
    try:
        model, details = model_from_pilot_study(
            plan, snapshot.study, control=_control_index(run, snapshot.study.treatments),
            **analysis_options(run.options, run.results["options"]["threshold"]),
        )
    except (StudyDataError, ValueError) as exc:
        raise RuleViolation(f"the pilot's OR parameters cannot be estimated: {exc}") from exc
    specs = plan_specs(plan, model)
    sizes = chunk_sizes(job.params["n_studies"], job.params["chunk_studies"])
    chunks = [{"row": row, "chunk": index, "n_studies": size}
              for row in range(len(specs)) for index, size in enumerate(sizes)]
    context = {"specs": [spec.to_dict() for spec in specs], "seed": job.params["seed"], "model": plain(details),
               "pilot_run": run.pk, "plan": job.params["plan"], "chunk_studies": job.params["chunk_studies"],
               "target_power": job.params["target_power"]}
    return jobs.FanOut(chunks=chunks, context=context)


def _control_index(run: AnalysisRun, treatments: tuple[str, ...]) -> int:
    """The pilot's control arm (one that does not show the AI) among the snapshot's treatments."""
    controls = [arm["name"] for arm in run.results["study"]["arms"] if not arm["shows_ai"]]
    if not controls:
        raise RuleViolation("the pilot run has no arm without the AI to start the model from")
    return treatments.index(controls[0])


def _simulate_chunk(context: dict, params: dict) -> dict:
    spec = context["specs"][params["row"]]
    return power_chunk(spec, seed=context["seed"], chunk=params["chunk"], n_studies=params["n_studies"])


def _merge(context: dict, params: list[dict], outputs: list[dict]) -> dict:
    """Each planned size's power from its chunks' counts, and per reader count the fewest cases reaching
    the target power (None when no planned case count does)."""
    by_row = groupby(zip(params, outputs, strict=True), key=lambda pair: pair[0]["row"])
    rows = []
    for row, pairs in by_row:
        spec = context["specs"][row]
        power = combine_chunks(output for _, output in pairs)
        rows.append({"readers": spec["n_readers"], "cases": spec["n_normal"] + spec["n_abnormal"], **asdict(power)})
    target = context["target_power"]
    cases_needed = [
        {"readers": readers, "cases": min((row["cases"] for row in rows if row["readers"] == readers
                                           and row["power"] >= target), default=None)}
        for readers in context["plan"]["readers"]
    ]
    kept = ("plan", "pilot_run", "seed", "chunk_studies", "target_power", "model")
    return {key: context[key] for key in kept} | {"rows": rows, "cases_for_target_power": cases_needed}


SIMULATION = jobs.ChunkedWork(chunk=_simulate_chunk, merge=_merge)
