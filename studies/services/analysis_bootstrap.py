"""The bootstrap of an analysis run, fanned out to the workers.

A run with ``cov="bootstrap"`` (OR method, fully crossed reads) is a job whose chunks each draw
512 resamples of the frozen snapshot's cases and return their moments
(:func:`mrmc.stats.covariance.bootstrap_chunk`); the chunk that completes the set merges them in
chunk order and analyses the run with that covariance. The merged covariance is the one a single
process computes with the same seed, bit for bit; a run without a seed gets one drawn here, and
its results record it.
"""

from dataclasses import dataclass

import numpy as np

from mrmc.stats import FigureOfMerit
from mrmc.stats.covariance import Moments, bootstrap_chunk, bootstrap_chunks
from studies.models import AnalysisRun
from studies.services import jobs
from studies.services.analysis_results import analysis_options, run_threshold
from studies.services.analysis_snapshot import parse_snapshot


@dataclass(frozen=True)
class BootstrapChunks:
    """The primary analysis's bootstrap, computed by the workers: its seed and its chunks in order."""

    seed: int
    chunks: list[Moments]


def bootstrap_fan_out(run: AnalysisRun) -> jobs.FanOut | None:
    """The chunks of the run's primary bootstrap, or None when its analysis has no bootstrap to share out
    (another covariance, U-statistics, or reads not fully crossed, which the analysis refuses itself)."""
    if run.options["cov"] != "bootstrap" or run.options["method"] != "or":
        return None
    if np.isnan(parse_snapshot(run.snapshot_csv).study.ratings).any():
        return None
    seed = run.options["seed"] if run.options["seed"] is not None else int(np.random.SeedSequence().entropy)
    chunks = [{"blocks": [blocks.start, blocks.stop]} for blocks in bootstrap_chunks(run.options["n_bootstrap"])]
    return jobs.FanOut(chunks=chunks, context={"run": run.pk, "seed": seed})


def compute_chunk(context: dict, params: dict) -> dict:
    """One chunk's moments, from the run's frozen reads."""
    run = AnalysisRun.objects.select_related("study").get(pk=context["run"])
    study = parse_snapshot(run.snapshot_csv).study
    options = analysis_options(run.options, run_threshold(run))
    figure = FigureOfMerit(options["fom"], options["threshold"], options["pauc_range"])
    moments = bootstrap_chunk(figure, study.ratings, study.truth, seed=context["seed"],
                              blocks=range(*params["blocks"]), n_resamples=run.options["n_bootstrap"])
    return moments.to_dict()


def chunks_of(context: dict, outputs: list[dict]) -> BootstrapChunks:
    return BootstrapChunks(seed=context["seed"], chunks=[Moments.from_dict(output) for output in outputs])
