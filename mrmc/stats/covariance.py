"""Covariance of the reader x treatment figures of merit across random cases.

Every estimator returns a matrix over the flattened ``(treatment, reader)`` index,
``t * n_readers + r``, shaped ``(T*R, T*R)``, or on request its reader average
(:func:`reader_averaged_covariance`), which is all the OR analysis needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .fom import FigureOfMerit, RankedRatings
from .kernel_sums import kernel_product_sums

COV_METHODS = ("jackknife", "delong", "unbiased", "bootstrap")
_RESAMPLE_BLOCK = 64
_CHUNK_BLOCKS = 8  # 512 resamples per chunk: part of what fixes the bootstrap's arithmetic, with the seed


def estimate_covariance(
    method: str,
    fom: FigureOfMerit,
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    n_bootstrap: int = 2000,
    seed: int | None = None,
    bootstrap_chunks: Sequence[Moments] | None = None,
    reader_averaged: bool = False,
    ranked: RankedRatings | None = None,
) -> np.ndarray:
    """Dispatch to the named covariance estimator (see :data:`COV_METHODS`).

    ``bootstrap_chunks``: the bootstrap's chunks computed elsewhere (:func:`bootstrap_covariance`).

    With ``reader_averaged`` the result is :func:`reader_averaged_covariance` of the
    estimate (which the unbiased estimator computes directly, much faster).
    ``ranked`` may pass the :class:`~mrmc.stats.fom.RankedRatings` of ``ratings`` and ``truth``.
    """
    if method == "unbiased":
        if fom.kind != "auc":
            raise ValueError("the unbiased covariance estimator is defined for fom='auc' only")
        return unbiased_covariance(ratings, truth, reader_averaged=reader_averaged, ranked=ranked)
    if method == "jackknife":
        cov = jackknife_covariance(fom, ratings, truth, ranked=ranked)
    elif method == "delong":
        cov = delong_covariance(fom, ratings, truth, ranked=ranked)
    elif method == "bootstrap":
        cov = bootstrap_covariance(fom, ratings, truth, n_resamples=n_bootstrap, seed=seed, chunks=bootstrap_chunks)
    else:
        raise ValueError(f"unknown covariance method {method!r}; choose one of {', '.join(COV_METHODS)}")
    return reader_averaged_covariance(cov, *ratings.shape[-3:-1]) if reader_averaged else cov


def leave_one_out_values(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None
) -> np.ndarray:
    """Figure of merit with each case left out in turn, shaped (..., T*R, n_cases).

    Leading axes of ``ratings`` beyond (treatment, reader, case) are independent studies.

    Notes
    -----
    With case contributions c (placement values for the AUC) and class size n, leaving
    out case k of its class gives (n * theta - c_k) / (n - 1), so all N leave-one-out
    values come in one vectorized pass (diseased cases first, then non-diseased; the
    order does not matter to the covariance). The partial AUC, which has no such
    decomposition, is recomputed under 0/1 case weights for a single study.
    """
    flat = ratings.reshape(ratings.shape[:-3] + (-1, truth.size))
    contributions = fom.case_contributions(flat, truth, ranked=_reshaped(ranked, flat.shape))
    if contributions is None:
        if ratings.ndim != 3:
            raise ValueError(f"fom={fom.kind!r} supports the jackknife for one study at a time")
        blocks = np.array_split(np.arange(truth.size), max(1, truth.size // _RESAMPLE_BLOCK))
        return np.concatenate(
            [
                fom.weighted_values(ratings, truth, 1.0 - np.eye(truth.size)[block]).reshape(len(block), -1).T
                for block in blocks
            ],
            axis=1,
        )
    theta = contributions[0].mean(axis=-1, keepdims=True)
    return np.concatenate([(part.shape[-1] * theta - part) / (part.shape[-1] - 1) for part in contributions], axis=-1)


def jackknife_covariance(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None
) -> np.ndarray:
    """Jackknife covariance, (K-1)/K * sum over cases of products of centred leave-one-out values.

    Vectorized over leading study axes of ``ratings`` (returns (..., T*R, T*R)).

    References
    ----------
    Efron B (1982). The Jackknife, the Bootstrap and Other Resampling Plans. SIAM.
    Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the
    Dorfman-Berbaum-Metz and Obuchowski-Rockette methods for receiver operating
    characteristic (ROC) data. Statistics in Medicine 24:1579-1607.
    """
    return leave_one_out_covariance(leave_one_out_values(fom, ratings, truth, ranked=ranked))


def leave_one_out_covariance(left_out: np.ndarray) -> np.ndarray:
    """Jackknife covariance, (K-1)/K * sum over cases of products of centred leave-one-out values,
    of figures of merit given with each of K cases left out, ``left_out`` (..., n, K) -> (..., n, n).

    The same as the sample covariance of the pseudovalues K theta - (K-1) theta_(-k) divided by K
    (Hillis et al. 2005), whatever the figure of merit (ROC or FROC).
    """
    n_cases = left_out.shape[-1]
    centred = left_out - left_out.mean(axis=-1, keepdims=True)
    return (n_cases - 1) / n_cases * (centred @ centred.swapaxes(-1, -2))


def delong_covariance(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, ranked: RankedRatings | None = None
) -> np.ndarray:
    """DeLong covariance S10/n1 + S01/n0 from the structural components (denominators n-1).

    Defined for figures of merit that are class means of case contributions
    (AUC, sensitivity, specificity).

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
    correlated ROC curves: a nonparametric approach. Biometrics 44:837-845.
    """
    flat = ratings.reshape(-1, truth.size)
    contributions = fom.case_contributions(flat, truth, ranked=_reshaped(ranked, flat.shape))
    if contributions is None:
        raise ValueError(f"DeLong covariance is not defined for fom={fom.kind!r}")
    return sum(np.atleast_2d(np.cov(part)) / part.shape[-1] for part in contributions)


def unbiased_covariance(
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    reader_averaged: bool = False,
    ranked: RankedRatings | None = None,
) -> np.ndarray:
    """Unbiased U-statistic covariance of empirical AUCs (as MRMCaov's ``unbiased``).

    ``ratings`` is (T, R, N). With ``reader_averaged`` the result is
    :func:`reader_averaged_covariance` of the full matrix, computed without the
    individual covariances between different readers (all the OR model uses, and
    much faster on large studies).

    Notes
    -----
    With kernel psi(x, y) = 1{x > y} + 1/2 1{x = y}, the four moments of kernel products
    over pairs of (diseased, non-diseased) pairs that share both cases (A1), only the
    diseased case (A2), only the non-diseased case (A3) or neither (A4) are estimated
    without bias, and
    cov = (A1 + (n0 - 1) A2 + (n1 - 1) A3 + (1 - n0 - n1) A4) / (n0 n1).
    A2-A4 follow from placement values; A1 needs the sum over all pairs of kernel
    products (see :func:`mrmc.stats.kernel_sums.kernel_product_sums`).

    References
    ----------
    Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Academic Radiology
    13:353-362.
    Gallas BD, Bandos A, Samuelson FW, Wagner RF (2009). A framework for random-effects
    ROC analysis: biases with the bootstrap and other variance estimators.
    Communications in Statistics - Theory and Methods 38:2586-2603.
    """
    n_t, n_r = ratings.shape[-3:-1]
    flat = ratings.reshape(-1, truth.size)
    n1 = int(np.count_nonzero(truth))
    n0 = truth.size - n1
    ranked = RankedRatings.of(flat, truth) if ranked is None else ranked.reshaped(flat.shape)
    v10, v01 = ranked.placement_values
    theta = v10.mean(axis=1)
    same_both = kernel_product_sums(
        ranked.diseased, ranked.normal, ranked.n_levels, n_r if reader_averaged else None, counts=ranked.counts
    )
    same_diseased = n0**2 * (v10 @ v10.T)
    same_normal = n1**2 * (v01 @ v01.T)
    all_pairs = (n0 * n1) ** 2 * np.outer(theta, theta)
    a1 = same_both / (n0 * n1)
    a2 = (same_diseased - same_both) / (n1 * n0 * (n0 - 1))
    a3 = (same_normal - same_both) / (n0 * n1 * (n1 - 1))
    a4 = (all_pairs - same_diseased - same_normal + same_both) / (n1 * (n1 - 1) * n0 * (n0 - 1))
    cov = (a1 + (n0 - 1) * a2 + (n1 - 1) * a3 + (1 - n0 - n1) * a4) / (n0 * n1)
    return reader_averaged_covariance(cov, n_t, n_r) if reader_averaged else cov


def _reshaped(ranked: RankedRatings | None, shape: tuple[int, ...]) -> RankedRatings | None:
    return None if ranked is None else ranked.reshaped(shape)


def reader_averaged_covariance(cov: np.ndarray, n_t: int, n_r: int) -> np.ndarray:
    """The (T*R, T*R) covariance with every entry between two different readers replaced
    by the mean of such entries for its pair of treatments.

    Entries of one reader are kept. The OR analysis depends on the covariance only
    through these (Var, Cov1 and each reader's own terms from the latter; Cov2, Cov3
    and each treatment's Cov2 from the means), so it gives the same results on either.
    """
    blocks = cov.reshape(n_t, n_r, n_t, n_r).copy()
    if n_r > 1:
        other = ~np.eye(n_r, dtype=bool)
        by_treatments = blocks.transpose(0, 2, 1, 3)
        by_treatments[:, :, other] = by_treatments[:, :, other].mean(axis=-1, keepdims=True)
    return blocks.reshape(cov.shape)


def bootstrap_covariance(
    fom: FigureOfMerit,
    ratings: np.ndarray,
    truth: np.ndarray,
    *,
    n_resamples: int = 2000,
    seed: int | None = None,
    chunks: Sequence[Moments] | None = None,
) -> np.ndarray:
    """Stratified bootstrap covariance (cases resampled within truth class, seeded).

    The resamples come in blocks, block ``k`` drawn from ``SeedSequence(seed, spawn_key=(k,))``
    (:func:`bootstrap_values`), and the blocks in chunks (:func:`bootstrap_chunks`) whose moments
    are merged in chunk order: chunks computed anywhere (``chunks``: their :func:`bootstrap_chunk`
    moments in order, e.g. from Celery workers) give exactly the covariance computed here.
    Without a seed the resamples are unseeded.

    References
    ----------
    Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall.
    """
    if n_resamples < 2:
        raise ValueError("the bootstrap needs at least 2 resamples")
    if chunks is None:
        seed = np.random.SeedSequence().entropy if seed is None else seed
        chunks = [bootstrap_chunk(fom, ratings, truth, seed=seed, blocks=blocks, n_resamples=n_resamples)
                  for blocks in bootstrap_chunks(n_resamples)]
    total = Moments.merged_in_order(chunks)
    if total.n != n_resamples:
        raise ValueError(f"bootstrap chunks of {total.n} resamples given for {n_resamples}")
    return np.atleast_2d(total.m2 / (total.n - 1))


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (co-moments) of a set of rows."""

    n: int
    mean: np.ndarray
    m2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        centred = values - values.mean(axis=0)
        return cls(values.shape[0], values.mean(axis=0), centred.T @ centred)

    def merged(self, other: Moments) -> Moments:
        """The moments of both sets (Chan, Golub & LeVeque 1979, the pairwise update)."""
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(
            n, self.mean + delta * (other.n / n), self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n)
        )

    @staticmethod
    def merged_in_order(parts: Iterable[Moments]) -> Moments:
        return functools.reduce(Moments.merged, parts)

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean.tolist(), "m2": self.m2.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Moments:
        return cls(data["n"], np.asarray(data["mean"], dtype=float), np.asarray(data["m2"], dtype=float))


def bootstrap_chunks(n_resamples: int, blocks_per_chunk: int = _CHUNK_BLOCKS) -> list[range]:
    """The blocks of each chunk; block ``k`` holds resamples ``64 k`` to ``64 (k + 1)`` (the last fewer)."""
    n_blocks = -(-n_resamples // _RESAMPLE_BLOCK)
    return [range(start, min(start + blocks_per_chunk, n_blocks)) for start in range(0, n_blocks, blocks_per_chunk)]


def bootstrap_chunk(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, seed: int, blocks: range, n_resamples: int
) -> Moments:
    """The moments of the figures of merit of these blocks' resamples, merged block by block in order."""
    sizes = [min(_RESAMPLE_BLOCK, n_resamples - block * _RESAMPLE_BLOCK) for block in blocks]
    return Moments.merged_in_order(
        Moments.of(bootstrap_values(fom, ratings, truth, seed=seed, block=block, size=size))
        for block, size in zip(blocks, sizes, strict=True)
    )


def bootstrap_values(
    fom: FigureOfMerit, ratings: np.ndarray, truth: np.ndarray, *, seed: int, block: int, size: int
) -> np.ndarray:
    """Figures of merit, shape (size, T*R), of bootstrap block ``block``: ``size`` resamples of the
    cases within each truth class, drawn from ``SeedSequence(seed, spawn_key=(block,))``.

    Each resample enters as case multiplicities (:meth:`FigureOfMerit.weighted_values`).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    drawn = np.hstack([
        members[rng.integers(0, members.size, size=(size, members.size))]
        for members in (np.flatnonzero(truth), np.flatnonzero(~truth))
    ])
    offsets = truth.size * np.arange(size)[:, None]
    weights = np.bincount((drawn + offsets).ravel(), minlength=size * truth.size).reshape(size, truth.size)
    return fom.weighted_values(ratings, truth, weights).reshape(size, -1)
