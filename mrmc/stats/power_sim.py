"""Power of a planned MRMC design by simulation, in independent chunks.

A :class:`PowerSpec` says what is simulated (design, readers, cases, model, alpha);
:func:`power_chunk` simulates one chunk of studies from its own seed and counts the rejections.
Chunk ``i`` of a run with seed ``s`` draws from ``SeedSequence(s, spawn_key=(i,))`` (the i-th
child :meth:`numpy.random.SeedSequence.spawn` would give), so chunks are independent and the
counts, and the power combined from them, are the same whether the chunks run in one process,
in many, or on Celery workers (:mod:`studies.services.power`).

The models of each design are in :mod:`mrmc.stats.power_designs`; a pilot's OR parameters give
the Roe & Metz model through :func:`mrmc.stats.roe_metz_params.roe_metz_from_or`.

References
----------
Hillis SL (2018). Statistics in Medicine 37:2067-2093; Hillis SL (2020). Journal of Medical
Imaging 7(5):056501 (simulating a design from OR parameters).
Hillis SL, Obuchowski NA, Berbaum KS (2011). Academic Radiology 18:129-142 (the analytic
power of fully crossed studies, :func:`mrmc.stats.power.study_power`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from . import power_designs
from .froc_simulation import FrocNullModel
from .roe_metz_params import RoeMetzModel
from .simulation import RoeMetzStructure

DESIGNS = ("fully_crossed", "split_plot", "ai_vs_readers", "froc")


@dataclass(frozen=True)
class FrocPowerModel:
    """The FROC search model, the lesions' extra separation in the second treatment and the figure of merit."""

    model: FrocNullModel = field(default_factory=FrocNullModel)
    treatment_effect: float = 0.0
    fom: str = "wafroc"


@dataclass(frozen=True)
class PowerSpec:
    """A planned design to simulate; JSON-able through :meth:`to_dict` / :meth:`from_dict`.

    ``n_groups``: split-plot reader groups (``split_plot`` only); ``missing_fraction``: reads
    missing at random (``fully_crossed`` and ``split_plot``); ``ai_auc``: the AI's AUC
    (``ai_vs_readers``; the null is the readers' mean AUC, :func:`power_designs.readers_mean_auc`).
    """

    design: str
    model: RoeMetzModel | FrocPowerModel
    n_readers: int
    n_normal: int
    n_abnormal: int
    n_groups: int | None = None
    missing_fraction: float = 0.0
    alpha: float = 0.05
    ai_auc: float | None = None

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design {self.design!r}; choose one of {', '.join(DESIGNS)}")
        if isinstance(self.model, FrocPowerModel) != (self.design == "froc"):
            raise ValueError("the froc design takes a FrocPowerModel, the others a RoeMetzModel")
        if (self.design == "split_plot") != (self.n_groups is not None):
            raise ValueError("n_groups is given for the split_plot design, and only for it")
        if (self.design == "ai_vs_readers") != (self.ai_auc is not None):
            raise ValueError("ai_auc is given for the ai_vs_readers design, and only for it")
        if self.missing_fraction and self.design not in ("fully_crossed", "split_plot"):
            raise ValueError("missing reads are simulated for the fully_crossed and split_plot designs")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PowerSpec:
        model = dict(data["model"])
        if data["design"] == "froc":
            built = FrocPowerModel(**{**model, "model": FrocNullModel(**model["model"])})
        else:
            built = RoeMetzModel(**{**model, "structure": RoeMetzStructure(**model["structure"])})
        return cls(**{**data, "model": built})


def chunk_seed(seed: int, chunk: int) -> np.random.SeedSequence:
    """The seed of chunk ``chunk``: ``SeedSequence(seed).spawn(chunk + 1)[chunk]``, made directly."""
    return np.random.SeedSequence(seed, spawn_key=(chunk,))


def chunk_sizes(n_studies: int, chunk_size: int) -> list[int]:
    """Studies per chunk: ``chunk_size`` each, the last one what remains."""
    if n_studies < 1 or chunk_size < 1:
        raise ValueError("n_studies and chunk_size must be positive")
    full, rest = divmod(n_studies, chunk_size)
    return [chunk_size] * full + ([rest] if rest else [])


def power_chunk(spec: PowerSpec | dict, *, seed: int, chunk: int, n_studies: int) -> dict[str, int]:
    """Simulate chunk ``chunk`` of ``n_studies`` studies; a pure function of its arguments.

    Returns
    -------
    dict
        ``studies``, ``rejections`` (p < alpha) and ``undefined`` (p is NaN: a study whose
        test has no case or reader variability; counted as not rejecting).
    """
    spec = spec if isinstance(spec, PowerSpec) else PowerSpec.from_dict(spec)
    p = _p_values(spec, np.random.default_rng(chunk_seed(seed, chunk)), n_studies)
    return {
        "studies": int(n_studies),
        "rejections": int(np.count_nonzero(p < spec.alpha)),
        "undefined": int(np.count_nonzero(np.isnan(p))),
    }


def _p_values(spec: PowerSpec, rng: np.random.Generator, n_studies: int) -> np.ndarray:
    cases = {"n_readers": spec.n_readers, "n_normal": spec.n_normal, "n_abnormal": spec.n_abnormal}
    if spec.design == "froc":
        froc = spec.model
        return power_designs.froc_p_values(
            froc.model, rng, n_studies, treatment_effect=froc.treatment_effect, fom=froc.fom, **cases
        )
    if spec.design == "ai_vs_readers":
        return power_designs.ai_versus_readers_p_values(spec.model, rng, n_studies, ai_auc=spec.ai_auc, **cases)
    return power_designs.roc_two_treatment_p_values(
        spec.model, rng, n_studies, n_groups=spec.n_groups, missing_fraction=spec.missing_fraction, **cases
    )


@dataclass(frozen=True)
class SimulatedPower:
    """Power (the rejection rate) over ``n_studies`` simulated studies, with its Monte-Carlo SE
    sqrt(p (1 - p) / n)."""

    power: float
    mc_se: float
    n_studies: int
    rejections: int
    undefined: int


def combine_chunks(counts: Iterable[dict[str, int]]) -> SimulatedPower:
    """Power from the counts of any set of chunks (their order does not matter)."""
    counts = list(counts)
    studies = sum(c["studies"] for c in counts)
    rejections = sum(c["rejections"] for c in counts)
    power = rejections / studies
    return SimulatedPower(
        power=power,
        mc_se=math.sqrt(power * (1 - power) / studies),
        n_studies=studies,
        rejections=rejections,
        undefined=sum(c["undefined"] for c in counts),
    )


ChunkMap = Callable[[PowerSpec, int, Sequence[int]], Iterable[dict[str, int]]]


def in_process(spec: PowerSpec, seed: int, sizes: Sequence[int]) -> list[dict[str, int]]:
    """Run every chunk here, one after the other."""
    return [power_chunk(spec, seed=seed, chunk=index, n_studies=size) for index, size in enumerate(sizes)]


def simulated_power(
    spec: PowerSpec, *, n_studies: int = 2000, seed: int = 0, chunk_size: int = 500, run_chunks: ChunkMap = in_process
) -> SimulatedPower:
    """Power of the design ``spec`` over ``n_studies`` simulated studies.

    ``run_chunks(spec, seed, sizes)`` runs the chunks and returns their counts (default: in
    this process); the result depends on ``seed`` and ``chunk_size`` only, never on where the
    chunks ran.
    """
    return combine_chunks(run_chunks(spec, seed, chunk_sizes(n_studies, chunk_size)))


def cases_for_simulated_power(
    spec: PowerSpec,
    *,
    case_grid: Iterable[int],
    target_power: float = 0.8,
    abnormal_fraction: float = 0.5,
    n_studies: int = 2000,
    seed: int = 0,
    chunk_size: int = 500,
    run_chunks: ChunkMap = in_process,
) -> tuple[int | None, list[tuple[int, SimulatedPower]]]:
    """The smallest total number of cases of ``case_grid`` whose simulated power reaches ``target_power``.

    Every grid point uses the same seed (common random numbers), so the powers along the grid
    vary smoothly. Returns that number (None if none reaches it) and the power at each point.
    """
    table = []
    for n_cases in sorted(case_grid):
        n_abnormal = round(n_cases * abnormal_fraction)
        planned = replace(spec, n_normal=n_cases - n_abnormal, n_abnormal=n_abnormal)
        result = simulated_power(planned, n_studies=n_studies, seed=seed, chunk_size=chunk_size, run_chunks=run_chunks)
        table.append((n_cases, result))
    reached = [n_cases for n_cases, result in table if result.power >= target_power]
    return (reached[0] if reached else None), table
