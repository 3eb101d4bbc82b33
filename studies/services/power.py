"""Simulated power and sample size of a planned design, its chunks run on the Celery workers.

The chunks of :mod:`mrmc.stats.power_sim` are independent and seeded each from the run's seed
and its own index, so fanning them out changes nothing in the result: it only shortens the wait.
Long runs belong outside the request path (a management command, a notebook, a job).
"""

from collections.abc import Iterable, Sequence

from mrmc.stats.power_sim import PowerSpec, SimulatedPower, cases_for_simulated_power, simulated_power
from studies.services import jobs


def _on_workers(timeout_s: float):
    def run_chunks(spec: PowerSpec, seed: int, sizes: Sequence[int]) -> list[dict]:
        return jobs.run_power_chunks(spec=spec.to_dict(), seed=seed, sizes=list(sizes), timeout_s=timeout_s)

    return run_chunks


def simulate_power(
    *, spec: PowerSpec | dict, n_studies: int = 2000, seed: int = 0, chunk_size: int = 500, timeout_s: float = 600.0
) -> SimulatedPower:
    """Power of ``spec`` over ``n_studies`` simulated studies, one Celery task per chunk of ``chunk_size``.

    The same as :func:`mrmc.stats.power_sim.simulated_power` with the same seed and chunk size.
    """
    spec = spec if isinstance(spec, PowerSpec) else PowerSpec.from_dict(spec)
    return simulated_power(
        spec, n_studies=n_studies, seed=seed, chunk_size=chunk_size, run_chunks=_on_workers(timeout_s)
    )


def cases_for_power(
    *,
    spec: PowerSpec | dict,
    case_grid: Iterable[int],
    target_power: float = 0.8,
    abnormal_fraction: float = 0.5,
    n_studies: int = 2000,
    seed: int = 0,
    chunk_size: int = 500,
    timeout_s: float = 600.0,
) -> tuple[int | None, list[tuple[int, SimulatedPower]]]:
    """:func:`mrmc.stats.power_sim.cases_for_simulated_power` with each grid point's chunks on the workers."""
    spec = spec if isinstance(spec, PowerSpec) else PowerSpec.from_dict(spec)
    return cases_for_simulated_power(
        spec,
        case_grid=case_grid,
        target_power=target_power,
        abnormal_fraction=abnormal_fraction,
        n_studies=n_studies,
        seed=seed,
        chunk_size=chunk_size,
        run_chunks=_on_workers(timeout_s),
    )
