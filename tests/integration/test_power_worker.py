"""Simulated power with its chunks run by a real Celery worker (Redis broker and result store)."""

import re

import pytest

from mrmc.stats.power_designs import readers_mean_auc
from mrmc.stats.power_sim import PowerSpec, simulated_power
from mrmc.stats.roe_metz_params import RoeMetzModel
from mrmc.stats.simulation import ROE_METZ_STRUCTURES
from studies.services import power

pytestmark = pytest.mark.integration

MODEL = RoeMetzModel(ROE_METZ_STRUCTURES["HL2"], 0.3)


@pytest.mark.parametrize(
    "spec",
    [
        PowerSpec("split_plot", MODEL, 6, 40, 40, n_groups=2, missing_fraction=0.03),
        PowerSpec("ai_vs_readers", MODEL, 4, 40, 40, ai_auc=readers_mean_auc(MODEL) - 0.05),
    ],
    ids=["split_plot", "ai_vs_readers"],
)
def test_chunks_run_on_the_worker_and_combine_to_the_in_process_result(celery_worker, tmp_path, spec):
    on_worker = power.simulate_power(spec=spec, n_studies=1000, seed=31, chunk_size=250, timeout_s=120)
    assert on_worker == simulated_power(spec, n_studies=1000, seed=31, chunk_size=250)
    log = (tmp_path / "worker.log").read_text()
    assert len(re.findall(r"Task studies\.power_chunk\[[^\]]+\] succeeded", log)) == 4, log[-3000:]
