"""Covariance estimators against slow, obvious implementations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import FigureOfMerit, estimate_covariance, kernel_sums, parallel, read_long_csv
from mrmc.stats import covariance as covariance_module
from mrmc.stats.fom import rating_levels

DATA = Path(__file__).parent / "data"
AUC = FigureOfMerit("auc")


def small_study(seed=0, n_normal=9, n_abnormal=7, shape=(2, 3), levels=5):
    rng = np.random.default_rng(seed)
    truth = np.r_[np.zeros(n_normal, dtype=bool), np.ones(n_abnormal, dtype=bool)]
    ratings = rng.integers(1, levels + 1, size=shape + (truth.size,)).astype(float)
    ratings[..., truth] += 1
    return ratings, truth


def kernels(ratings, truth):
    flat = ratings.reshape(-1, truth.size)
    diseased, normal = flat[:, truth], flat[:, ~truth]
    return (diseased[:, :, None] > normal[:, None, :]) + 0.5 * (diseased[:, :, None] == normal[:, None, :])


def recomputed_jackknife(fom, ratings, truth):
    """Leave each case out and recompute the figure of merit from scratch."""
    left_out = np.array(
        [fom.values(np.delete(ratings, k, axis=-1), np.delete(truth, k)).ravel() for k in range(truth.size)]
    )
    centred = left_out - left_out.mean(axis=0)
    return (truth.size - 1) / truth.size * centred.T @ centred


@pytest.mark.parametrize(
    "fom",
    [
        AUC,
        FigureOfMerit("sens", threshold=4),
        FigureOfMerit("spec", threshold=3),
        FigureOfMerit("pauc", pauc_range=(0.6, 1.0)),
    ],
    ids=lambda fom: fom.kind,
)
def test_jackknife_equals_leave_one_out_recomputation(fom):
    ratings, truth = small_study()
    np.testing.assert_allclose(
        estimate_covariance("jackknife", fom, ratings, truth),
        recomputed_jackknife(fom, ratings, truth),
        rtol=1e-10,
        atol=1e-15,
    )


def test_delong_equals_structural_component_formula():
    ratings, truth = small_study(1)
    psi = kernels(ratings, truth)
    v10 = psi.mean(axis=2)  # (fom, diseased)
    v01 = psi.mean(axis=1)  # (fom, normal)
    n1, n0 = v10.shape[1], v01.shape[1]
    s10 = np.array([[np.sum((a - a.mean()) * (b - b.mean())) / (n1 - 1) for b in v10] for a in v10])
    s01 = np.array([[np.sum((a - a.mean()) * (b - b.mean())) / (n0 - 1) for b in v01] for a in v01])
    np.testing.assert_allclose(estimate_covariance("delong", AUC, ratings, truth), s10 / n1 + s01 / n0, rtol=1e-12)


def unbiased_by_enumeration(ratings, truth):
    """Gallas's estimator from explicit means over the four kinds of pairs of case pairs."""
    psi = kernels(ratings, truth).reshape(ratings.shape[0] * ratings.shape[1], -1)
    n1, n0 = int(truth.sum()), int((~truth).sum())
    diseased, normal = np.divmod(np.arange(n1 * n0), n0)
    same_diseased = diseased[:, None] == diseased[None, :]
    same_normal = normal[:, None] == normal[None, :]
    masks = [
        same_diseased & same_normal,
        same_diseased & ~same_normal,
        ~same_diseased & same_normal,
        ~same_diseased & ~same_normal,
    ]
    result = np.empty((psi.shape[0], psi.shape[0]))
    for a in range(psi.shape[0]):
        for b in range(psi.shape[0]):
            products = np.outer(psi[a], psi[b])
            a1, a2, a3, a4 = (products[mask].mean() for mask in masks)
            result[a, b] = (a1 + (n0 - 1) * a2 + (n1 - 1) * a3 + (1 - n0 - n1) * a4) / (n0 * n1)
    return result


@pytest.mark.parametrize(("block_elements", "bin_cost_ratio"), [(2**20, 1 / 3), (5, 1 / 3), (1, 1e-3)])
def test_unbiased_equals_enumeration(monkeypatch, block_elements, bin_cost_ratio):
    monkeypatch.setattr(kernel_sums, "_PAIR_BLOCK_ELEMENTS", block_elements)
    monkeypatch.setattr(kernel_sums, "_BIN_COST_RATIO", bin_cost_ratio)
    ratings, truth = small_study(2)
    np.testing.assert_allclose(
        estimate_covariance("unbiased", AUC, ratings, truth),
        unbiased_by_enumeration(ratings, truth),
        rtol=1e-10,
        atol=1e-15,
    )


def kernel_product_sums_by_definition(diseased, normal):
    psi = (diseased[:, :, None] > normal[:, None, :]) + 0.5 * (diseased[:, :, None] == normal[:, None, :])
    return np.einsum("aij,bij->ab", psi, psi)


def levels_of(diseased, normal):
    levels, n_levels = rating_levels(np.concatenate([diseased, normal], axis=1))
    return levels[:, : diseased.shape[1]], levels[:, diseased.shape[1] :], n_levels


def random_ratings(seed, shape, levels):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape) if levels is None else rng.integers(0, levels, size=shape).astype(float)


@pytest.mark.parametrize("bin_cost_ratio", [1 / 3, 1e-2, 1e-4])
@pytest.mark.parametrize(
    ("n_diseased", "n_normal", "levels"), [(37, 23, 6), (29, 41, 101), (40, 31, None), (3, 2, None), (1, 1, 2)]
)
def test_kernel_product_sums_equal_brute_force(monkeypatch, bin_cost_ratio, n_diseased, n_normal, levels):
    """Dominance counting (histograms and within-bin corrections) against the definition."""
    monkeypatch.setattr(kernel_sums, "_BIN_COST_RATIO", bin_cost_ratio)
    monkeypatch.setattr(kernel_sums, "_PAIR_BLOCK_ELEMENTS", 2**12)
    ratings = random_ratings(n_diseased, (6, n_diseased + n_normal), levels)
    diseased, normal = ratings[:, :n_diseased], ratings[:, n_diseased:]
    np.testing.assert_array_equal(
        kernel_sums.kernel_product_sums(*levels_of(diseased, normal)),
        kernel_product_sums_by_definition(diseased, normal),
    )


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tile_pairs", [20_000, 24, 7])
@pytest.mark.parametrize(
    ("n_t", "n_r", "n_diseased", "n_normal", "levels"),
    [(2, 3, 37, 23, None), (2, 4, 29, 41, 7), (3, 2, 40, 31, None), (1, 5, 30, 20, None), (2, 1, 11, 9, None)],
)
def test_tiled_reader_sums_equal_reader_averaged_definition(
    monkeypatch, threads, tile_pairs, n_t, n_r, n_diseased, n_normal, levels
):
    """Kernel tiles summed over readers: own pairs exact, different readers' pairs right in their mean."""
    monkeypatch.setattr(parallel, "THREADS", threads)
    monkeypatch.setattr(kernel_sums, "_TILE_PAIRS", tile_pairs)
    monkeypatch.setattr(kernel_sums, "_OWN_COUNT_FLUSH", 3)  # own-product byte counters summed often
    monkeypatch.setattr(kernel_sums, "_HISTOGRAM_CELL_COST", 1e12)  # force the tiles
    ratings = random_ratings(n_r * 100 + n_normal, (n_t * n_r, n_diseased + n_normal), levels)
    diseased, normal = ratings[:, :n_diseased], ratings[:, n_diseased:]
    variants = [normal]
    if levels is None:  # continuous ratings have no ties; add a few between classes in one figure of merit
        tied = normal.copy()
        tied[1, :3] = diseased[1, :3]
        variants.append(tied)
    for normal in variants:
        expected = covariance_module.reader_averaged_covariance(
            kernel_product_sums_by_definition(diseased, normal), n_t, n_r
        )
        np.testing.assert_allclose(
            kernel_sums.kernel_product_sums(*levels_of(diseased, normal), n_r), expected, rtol=1e-12
        )


@pytest.mark.parametrize("force", ["tiles", "histograms"])
def test_reader_averaged_unbiased_is_the_average_of_the_full_estimate(monkeypatch, force):
    monkeypatch.setattr(kernel_sums, "_HISTOGRAM_CELL_COST", 1e12 if force == "tiles" else 0)
    monkeypatch.setattr(kernel_sums, "_WITHIN_BIN_COST", 1e12 if force == "tiles" else 0)
    ratings, truth = small_study(4, n_normal=23, n_abnormal=19, shape=(2, 4), levels=40)
    full = estimate_covariance("unbiased", AUC, ratings, truth)
    averaged = estimate_covariance("unbiased", AUC, ratings, truth, reader_averaged=True)
    np.testing.assert_allclose(averaged, covariance_module.reader_averaged_covariance(full, 2, 4), rtol=1e-12)
    # the entries of one reader are kept; those of two readers are not (they differ here)
    same_reader = np.kron(np.ones((2, 2)), np.eye(4)).astype(bool)
    np.testing.assert_array_equal(averaged[same_reader], full[same_reader])
    assert not np.allclose(averaged[~same_reader], full[~same_reader])


def test_reader_averaged_covariance_keeps_block_means():
    rng = np.random.default_rng(5)
    cov = rng.normal(size=(12, 12))
    averaged = covariance_module.reader_averaged_covariance(cov, 3, 4)
    blocks, averaged_blocks = cov.reshape(3, 4, 3, 4), averaged.reshape(3, 4, 3, 4)
    other = ~np.eye(4, dtype=bool)
    for t in range(3):
        for u in range(3):
            assert np.allclose(averaged_blocks[t, :, u, :][other], blocks[t, :, u, :][other].mean())
            assert np.array_equal(np.diag(averaged_blocks[t, :, u, :]), np.diag(blocks[t, :, u, :]))


def test_unbiased_rejects_other_figures_of_merit():
    ratings, truth = small_study()
    with pytest.raises(ValueError, match="auc"):
        estimate_covariance("unbiased", FigureOfMerit("sens", threshold=3), ratings, truth)
    with pytest.raises(ValueError, match="DeLong"):
        estimate_covariance("delong", FigureOfMerit("pauc"), ratings, truth)
    with pytest.raises(ValueError, match="unknown covariance"):
        estimate_covariance("sandwich", AUC, ratings, truth)


def test_bootstrap_is_seeded_and_close_to_jackknife():
    study = read_long_csv(DATA / "vandyke.csv")
    first = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=7)
    again = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=7)
    other = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1000, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    jackknife = estimate_covariance("jackknife", AUC, study.ratings, study.truth)
    # Sampling error of 1000 resamples is a few percent; the mean variance must agree to ~15%.
    assert np.mean(np.diag(first)) == pytest.approx(np.mean(np.diag(jackknife)), rel=0.15)


def test_bootstrap_resamples_within_truth_class():
    """A figure of merit that is constant under stratified resampling has zero variance."""
    ratings, truth = small_study(3, shape=(1, 1))
    perfect = np.where(truth, 10.0, 0.0)[None, None, :] + ratings * 0.01
    cov = estimate_covariance("bootstrap", AUC, perfect, truth, n_bootstrap=50, seed=0)
    assert cov == pytest.approx(0.0, abs=1e-20)


def _chunk(blocks):
    study = read_long_csv(DATA / "vandyke.csv")
    return covariance_module.bootstrap_chunk(AUC, study.ratings, study.truth, seed=11, blocks=blocks, n_resamples=1100)


def test_bootstrap_chunks_computed_in_other_processes_give_the_same_covariance_bit_for_bit():
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from mrmc.stats import analyze_study

    study = read_long_csv(DATA / "vandyke.csv")
    chunks = covariance_module.bootstrap_chunks(1100)
    assert chunks == [range(0, 8), range(8, 16), range(16, 18)]  # 18 blocks of 64, the last of 12
    # spawned, not forked: a fork of a process with threads (browser drivers, workers' clients) can hang
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        computed = list(pool.map(_chunk, reversed(chunks)))[::-1]
    travelled = [covariance_module.Moments.from_dict(json.loads(json.dumps(c.to_dict()))) for c in computed]
    here = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1100, seed=11)
    given = estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1100, seed=11,
                                bootstrap_chunks=travelled)
    np.testing.assert_array_equal(given, here)
    seeded = analyze_study(study, cov="bootstrap", n_bootstrap=1100, seed=11)
    from_chunks = analyze_study(study, cov="bootstrap", n_bootstrap=1100, seed=11, bootstrap_chunks=travelled)
    assert from_chunks.analysis.rrrc == seeded.analysis.rrrc
    with pytest.raises(ValueError, match="chunks of 1024 resamples given for 1100"):
        estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=1100,
                            bootstrap_chunks=travelled[:2])


def test_merged_moments_are_the_sample_covariance():
    values = np.random.default_rng(0).normal(size=(300, 4))
    parts = [covariance_module.Moments.of(values[a:b]) for a, b in ((0, 64), (64, 65), (65, 300))]
    merged = covariance_module.Moments.merged_in_order(parts)
    np.testing.assert_allclose(merged.m2 / (merged.n - 1), np.cov(values, rowvar=False), rtol=1e-12)
    np.testing.assert_allclose(merged.mean, values.mean(axis=0), rtol=1e-12)


def test_an_unseeded_bootstrap_draws_new_resamples_each_time():
    study = read_long_csv(DATA / "vandyke.csv")
    first, second = (estimate_covariance("bootstrap", AUC, study.ratings, study.truth, n_bootstrap=100)
                     for _ in range(2))
    assert not np.array_equal(first, second)
