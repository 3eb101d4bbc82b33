"""Simulated power through the service: chunks as Celery tasks, here run in-process (eager Celery)."""

import pytest

from mrmc.stats.power_sim import PowerSpec, cases_for_simulated_power, simulated_power
from mrmc.stats.roe_metz_params import RoeMetzModel
from mrmc.stats.simulation import ROE_METZ_STRUCTURES
from studies.services import power
from studies.tasks import power_chunk

SPEC = PowerSpec("split_plot", RoeMetzModel(ROE_METZ_STRUCTURES["HL2"], 0.3), 6, 30, 30, n_groups=2)


def test_the_service_gives_the_library_result_from_the_same_seed():
    expected = simulated_power(SPEC, n_studies=700, seed=4, chunk_size=200)
    assert power.simulate_power(spec=SPEC, n_studies=700, seed=4, chunk_size=200) == expected
    assert power.simulate_power(spec=SPEC.to_dict(), n_studies=700, seed=4, chunk_size=200) == expected
    assert expected.n_studies == 700 and 0 < expected.power < 1


def test_sample_size_through_the_service():
    expected = cases_for_simulated_power(SPEC, case_grid=(40, 80), n_studies=300, seed=2, chunk_size=150)
    assert power.cases_for_power(spec=SPEC, case_grid=(40, 80), n_studies=300, seed=2, chunk_size=150) == expected


def test_the_task_takes_its_arguments_by_name_and_returns_json():
    counts = power_chunk.apply(kwargs={"spec": SPEC.to_dict(), "seed": 1, "chunk": 0, "n_studies": 50}).get()
    assert set(counts) == {"studies", "rejections", "undefined"} and counts["studies"] == 50
    with pytest.raises(TypeError):
        power_chunk.apply(args=(SPEC.to_dict(), 1, 0, 50), throw=True).get()
