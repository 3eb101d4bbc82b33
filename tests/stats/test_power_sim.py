"""Power of planned designs by simulation (mrmc.stats.power_sim), in independent chunks."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from mrmc.stats.power import PilotEstimates, cases_for_power, study_power
from mrmc.stats.power_designs import readers_mean_auc
from mrmc.stats.power_sim import (
    FrocPowerModel,
    PowerSpec,
    cases_for_simulated_power,
    chunk_seed,
    chunk_sizes,
    combine_chunks,
    power_chunk,
    simulated_power,
)
from mrmc.stats.roe_metz_params import RoeMetzModel, or_parameters_of_roe_metz
from mrmc.stats.simulation import ROE_METZ_STRUCTURES

NULL = RoeMetzModel(ROE_METZ_STRUCTURES["HL2"])
ALTERNATIVE = RoeMetzModel(ROE_METZ_STRUCTURES["HL2"], treatment_effect=0.25)


def in_two_processes(spec, seed, sizes):
    # fresh interpreters: a forked child of a process with threads (Django, Celery loaded) can deadlock
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(power_chunk, spec.to_dict(), seed=seed, chunk=i, n_studies=n) for i, n in enumerate(sizes)]
        return [future.result() for future in reversed(futures)]


def test_chunks_give_the_same_power_in_one_process_or_in_several():
    spec = PowerSpec("split_plot", ALTERNATIVE, 6, 30, 30, n_groups=2, missing_fraction=0.05)
    here = simulated_power(spec, n_studies=900, seed=7, chunk_size=200)
    elsewhere = simulated_power(spec, n_studies=900, seed=7, chunk_size=200, run_chunks=in_two_processes)
    assert here == elsewhere
    assert here.n_studies == 900 and 0 < here.rejections < 900


def test_chunk_seeds_are_the_spawned_children():
    children = np.random.SeedSequence(42).spawn(3)
    for index, child in enumerate(children):
        assert (chunk_seed(42, index).generate_state(4) == child.generate_state(4)).all()
    assert chunk_sizes(1050, 500) == [500, 500, 50]


def test_a_chunk_depends_on_its_seed_and_index_only():
    spec = PowerSpec("fully_crossed", ALTERNATIVE, 4, 25, 25)
    first = power_chunk(spec, seed=3, chunk=1, n_studies=100)
    assert power_chunk(spec.to_dict(), seed=3, chunk=1, n_studies=100) == first
    assert power_chunk(spec, seed=3, chunk=2, n_studies=100) != first


def test_combined_power_and_its_monte_carlo_se():
    result = combine_chunks([{"studies": 300, "rejections": 60, "undefined": 1}, {"studies": 100, "rejections": 20, "undefined": 0}])
    assert (result.power, result.n_studies, result.undefined) == (0.2, 400, 1)
    assert result.mc_se == pytest.approx(np.sqrt(0.2 * 0.8 / 400), rel=1e-12)


@pytest.mark.parametrize(
    "spec",
    [
        PowerSpec("split_plot", ALTERNATIVE, 6, 30, 30, n_groups=3, missing_fraction=0.02),
        PowerSpec("ai_vs_readers", NULL, 5, 30, 30, ai_auc=0.8),
        PowerSpec("froc", FrocPowerModel(treatment_effect=0.3, fom="afroc"), 4, 20, 20),
    ],
)
def test_spec_survives_json(spec):
    assert PowerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("crossover", NULL, 5, 30, 30), "unknown design"),
        (("froc", NULL, 5, 30, 30), "FrocPowerModel"),
        (("split_plot", NULL, 6, 30, 30), "n_groups"),
        (("ai_vs_readers", NULL, 5, 30, 30), "ai_auc"),
    ],
)
def test_inconsistent_specs_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        PowerSpec(*arguments)


def test_power_grows_with_readers_and_cases():
    powers = [
        simulated_power(PowerSpec("fully_crossed", ALTERNATIVE, readers, cases, cases), n_studies=2000, seed=9).power
        for readers, cases in ((3, 30), (8, 30), (8, 120))
    ]
    assert powers[0] < powers[1] < powers[2]


@pytest.mark.slow
@pytest.mark.parametrize(("structure", "effect", "readers", "cases"), [("HH2", 0.3, 8, 200), ("LL1", 0.3, 6, 150)])
def test_simulated_power_agrees_with_the_analytic_power(structure, effect, readers, cases):
    """Hillis, Obuchowski & Berbaum (2011) power from the model's exact OR parameters against
    10,000 simulated studies: within 3 Monte-Carlo SE (0.015)."""
    model = RoeMetzModel(ROE_METZ_STRUCTURES[structure], treatment_effect=effect)
    exact = or_parameters_of_roe_metz(model, n_normal=cases // 2, n_abnormal=cases // 2)
    pilot = PilotEstimates(exact.var_TR, exact.var_error, exact.cov1, exact.cov2, exact.cov3, cases)
    analytic = study_power(pilot, n_readers=readers, n_cases=cases, effect_size=exact.auc[1] - exact.auc[0]).power
    simulated = simulated_power(
        PowerSpec("fully_crossed", model, readers, cases // 2, cases // 2), n_studies=10_000, seed=13, chunk_size=1000
    )
    assert abs(simulated.power - analytic) < 3 * simulated.mc_se, (simulated, analytic)


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        PowerSpec("fully_crossed", NULL, 5, 50, 50),
        PowerSpec("fully_crossed", NULL, 5, 50, 50, missing_fraction=0.03),
        PowerSpec("split_plot", NULL, 6, 60, 60, n_groups=3, missing_fraction=0.03),
        PowerSpec("ai_vs_readers", NULL, 5, 50, 50, ai_auc=readers_mean_auc(NULL)),
        PowerSpec("froc", FrocPowerModel(), 5, 50, 50),
    ],
    ids=["fully_crossed", "missing_reads", "split_plot", "ai_vs_readers", "froc"],
)
def test_power_under_the_null_is_the_type_one_error(spec):
    result = simulated_power(spec, n_studies=10_000, seed=17, chunk_size=1000)
    assert result.undefined == 0
    assert 0.04 <= result.power <= 0.06, result


@pytest.mark.slow
def test_sample_size_search_finds_the_analytic_case_count():
    """The analytic sample size for 80% power (330 cases) against the grid search over 4,000 studies
    per point: the power curve is flat near 80% here (Monte-Carlo SE 0.0065), so within two steps."""
    model = RoeMetzModel(ROE_METZ_STRUCTURES["LL1"], treatment_effect=0.3)
    exact = or_parameters_of_roe_metz(model, n_normal=100, n_abnormal=100)
    pilot = PilotEstimates(exact.var_TR, exact.var_error, exact.cov1, exact.cov2, exact.cov3, 200)
    analytic = cases_for_power(pilot, n_readers=6, effect_size=exact.auc[1] - exact.auc[0])
    found, table = cases_for_simulated_power(
        PowerSpec("fully_crossed", model, 6, 100, 100), case_grid=range(200, 501, 25), n_studies=4000, seed=5,
        chunk_size=1000,
    )
    assert table[0][1].power < 0.8 <= table[-1][1].power
    assert found == next(cases for cases, result in table if result.power >= 0.8)
    assert abs(found - analytic) <= 50, (found, analytic)
