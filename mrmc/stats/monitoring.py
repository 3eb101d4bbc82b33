"""Post-market monitoring of a deployed model: performance per time window, drift signals, and a
Bernoulli CUSUM on an error rate with its Markov-chain design.

Everything here is incremental where the platform needs it to be: a window's
:class:`PerformanceAccumulator` and :class:`CategoryCounts`, and the :class:`CusumState`, take new
records and return a new state (``to_dict`` / ``from_dict`` store them as JSON), so a scheduled job
never recomputes from the start.

Typical use::

    chart = design_bernoulli_cusum(p0=0.10, p1=0.25, in_control_arl=500)   # misses among positives
    state = chart.update(CusumState(), missed)       # missed: 1 where a confirmed positive was missed
    state.alarms                                     # observation counts at which the chart alarmed

    window = PerformanceAccumulator(threshold=0.5).add(scores, truth)        # ... .add(more) later
    window.summary()                                 # AUC (DeLong), sensitivity, specificity, PPV, NPV

    categorical_drift(reference_counts, window_counts)    # PSI and chi-square, e.g. software version
    continuous_drift(reference_values, window_values)     # PSI on reference deciles and two-sample KS
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np
from scipy import stats

from .proportions import Proportion, proportion
from .standalone import StandaloneAUC, standalone_auc

PSI_MODERATE, PSI_SHIFT = 0.10, 0.25
PSI_FLOOR = 1e-4  # a share of 0 in one distribution would make the PSI infinite


# ---------------------------------------------------------------- performance per time window


@dataclass(frozen=True)
class WindowPerformance:
    """Performance in one window; ``auc`` is None with fewer than two cases of either class."""

    threshold: float
    n_positive: int
    n_negative: int
    auc: StandaloneAUC | None
    sensitivity: Proportion
    specificity: Proportion
    ppv: Proportion
    npv: Proportion


@dataclass(frozen=True)
class PerformanceAccumulator:
    """The outcome-confirmed records of one window (site, device, model version, ...), grown by
    :meth:`add`; ``threshold`` is the operating point (a score at or above it is a positive call)."""

    threshold: float
    positive_scores: tuple[float, ...] = ()
    negative_scores: tuple[float, ...] = ()

    def add(self, scores: Sequence[float], truth: Sequence[bool]) -> PerformanceAccumulator:
        scores = np.asarray(scores, dtype=float)
        truth = np.asarray(truth, dtype=bool)
        if scores.shape != truth.shape:
            raise ValueError(f"{scores.size} scores for {truth.size} outcomes")
        return replace(
            self,
            positive_scores=self.positive_scores + tuple(map(float, scores[truth])),
            negative_scores=self.negative_scores + tuple(map(float, scores[~truth])),
        )

    def summary(self, *, alpha: float = 0.05, interval: str = "wilson") -> WindowPerformance:
        """AUC with its DeLong Wald interval (:func:`mrmc.stats.standalone.standalone_auc`) and the
        proportions at the threshold with binomial intervals (:func:`mrmc.stats.proportions.proportion`)."""
        positives = np.asarray(self.positive_scores)
        negatives = np.asarray(self.negative_scores)
        true_pos = int(np.sum(positives >= self.threshold))
        true_neg = int(np.sum(negatives < self.threshold))
        false_pos, false_neg = negatives.size - true_neg, positives.size - true_pos
        area = None
        if min(positives.size, negatives.size) >= 2:
            truth = np.r_[np.ones(positives.size, bool), np.zeros(negatives.size, bool)]
            area = standalone_auc(np.r_[positives, negatives], truth, alpha=alpha)

        def of(successes: int, n: int) -> Proportion:
            return proportion(successes, n, alpha=alpha, method=interval)

        return WindowPerformance(
            self.threshold,
            int(positives.size),
            int(negatives.size),
            area,
            sensitivity=of(true_pos, positives.size),
            specificity=of(true_neg, negatives.size),
            ppv=of(true_pos, true_pos + false_pos),
            npv=of(true_neg, true_neg + false_neg),
        )

    def to_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "positive": list(self.positive_scores),
            "negative": list(self.negative_scores),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> PerformanceAccumulator:
        return cls(float(data["threshold"]), tuple(data["positive"]), tuple(data["negative"]))


def window_performance(
    scores: Sequence[float], truth: Sequence[bool], threshold: float, *, alpha: float = 0.05
) -> WindowPerformance:
    """:class:`WindowPerformance` of one window's records at once."""
    return PerformanceAccumulator(threshold).add(scores, truth).summary(alpha=alpha)


# ---------------------------------------------------------------- drift signals


@dataclass(frozen=True)
class PopulationStability:
    """PSI with each bin's share in the reference and the window and its contribution.

    ``level``: 'stable' below 0.10, 'moderate' from 0.10, 'shift' from 0.25 (Siddiqi 2006; Yurdakul 2018).
    """

    psi: float
    reference_shares: tuple[float, ...]
    window_shares: tuple[float, ...]
    contributions: tuple[float, ...]
    level: str


def population_stability_index(
    reference_counts: Sequence[float], window_counts: Sequence[float]
) -> PopulationStability:
    """Population stability index between two binned distributions (same bins, counts or shares).

    Notes
    -----
    PSI = sum_i (w_i - r_i) ln(w_i / r_i) over the bins' shares r (reference) and w (window), a
    symmetrised Kullback-Leibler divergence (Yurdakul 2018, eq. 1). A share of 0 is raised to
    ``PSI_FLOOR`` (1e-4) so that a category new in the window (a software version that did not
    exist in the reference) counts as a large, finite shift. Rule of thumb: < 0.10 no significant
    change, 0.10-0.25 moderate, >= 0.25 significant shift (Siddiqi 2006, ch. 8).

    References
    ----------
    Siddiqi N (2006). Credit Risk Scorecards: Developing and Implementing Intelligent Credit
    Scoring. Wiley. Yurdakul B (2018). Statistical properties of population stability index.
    PhD dissertation, Western Michigan University.
    """
    reference = np.asarray(reference_counts, dtype=float)
    window = np.asarray(window_counts, dtype=float)
    if reference.shape != window.shape or reference.ndim != 1:
        raise ValueError("the reference and the window must be counted over the same bins")
    if reference.sum() <= 0 or window.sum() <= 0:
        raise ValueError("the PSI needs at least one record in the reference and in the window")
    reference_shares = np.maximum(reference / reference.sum(), PSI_FLOOR)
    window_shares = np.maximum(window / window.sum(), PSI_FLOOR)
    contributions = (window_shares - reference_shares) * np.log(window_shares / reference_shares)
    psi = float(contributions.sum())
    level = "shift" if psi >= PSI_SHIFT else "moderate" if psi >= PSI_MODERATE else "stable"
    return PopulationStability(
        psi,
        tuple(map(float, reference / reference.sum())),
        tuple(map(float, window / window.sum())),
        tuple(map(float, contributions)),
        level,
    )


def psi_bin_edges(reference_values: Sequence[float], n_bins: int = 10) -> np.ndarray:
    """Inner edges of ``n_bins`` bins holding equal shares of the reference (its quantiles, deciles
    by default, as Siddiqi 2006); the outer bins are open, so any later value has a bin."""
    reference = np.asarray(reference_values, dtype=float)
    return np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)[1:-1]))


def binned_counts(values: Sequence[float], edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the bins (-inf, e1), [e1, e2), ..., [ek, inf) of :func:`psi_bin_edges`."""
    return np.bincount(np.searchsorted(edges, np.asarray(values, dtype=float), side="right"), minlength=len(edges) + 1)


@dataclass(frozen=True)
class ContinuousDrift:
    """A continuous attribute (AI score, kVp, pixel spacing) in a window against the reference."""

    stability: PopulationStability
    ks_statistic: float
    ks_p: float
    n_reference: int
    n_window: int


def continuous_drift(
    reference_values: Sequence[float], window_values: Sequence[float], *, n_bins: int = 10
) -> ContinuousDrift:
    """PSI over the reference's quantile bins and the two-sample Kolmogorov-Smirnov test.

    The KS p-value is exact for small samples and asymptotic otherwise (scipy's ``ks_2samp``,
    ``method='auto'``); with many records it finds shifts too small to matter, which the PSI puts on
    a scale. Each attribute and window is a separate test: adjust with :func:`holm_adjusted` when
    several are judged together.

    References
    ----------
    Smirnov NV (1948). Table for estimating the goodness of fit of empirical distributions. Annals
    of Mathematical Statistics 19:279-281. Siddiqi (2006), see :func:`population_stability_index`.
    """
    reference = np.asarray(reference_values, dtype=float)
    window = np.asarray(window_values, dtype=float)
    edges = psi_bin_edges(reference, n_bins)
    stability = population_stability_index(binned_counts(reference, edges), binned_counts(window, edges))
    test = stats.ks_2samp(reference, window)
    return ContinuousDrift(stability, float(test.statistic), float(test.pvalue), reference.size, window.size)


@dataclass(frozen=True)
class CategoryCounts:
    """Counts per level of a categorical attribute (manufacturer, software version), grown by :meth:`add`."""

    counts: tuple[tuple[str, int], ...] = ()

    def add(self, levels: Sequence[object]) -> CategoryCounts:
        merged = Counter(dict(self.counts))
        merged.update("" if level is None else str(level) for level in levels)
        return CategoryCounts(tuple(sorted(merged.items())))

    def as_dict(self) -> dict[str, int]:
        return dict(self.counts)

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> CategoryCounts:
        return cls(tuple(sorted((str(level), int(count)) for level, count in data.items())))


@dataclass(frozen=True)
class CategoricalDrift:
    """A categorical attribute in a window against the reference: PSI over its levels and Pearson's
    chi-square test of homogeneity of the 2 x K table (reference, window) x level.

    ``min_expected`` below 5 means the chi-square approximation is rough (Cochran 1954).
    """

    levels: tuple[str, ...]
    stability: PopulationStability
    chi2: float
    df: int
    p: float
    min_expected: float


def categorical_drift(reference_counts: Mapping[str, int], window_counts: Mapping[str, int]) -> CategoricalDrift:
    """PSI and chi-square test between the level counts of the reference and of a window.

    A level seen only in the window (a new software version) enters the PSI at the 1e-4 floor share in
    the reference and the chi-square test as a column of its own.

    References
    ----------
    Pearson K (1900). On the criterion that a given system of deviations ... Philosophical Magazine
    50:157-175. Cochran WG (1954). Some methods for strengthening the common chi-square tests.
    Biometrics 10:417-451. Siddiqi (2006), see :func:`population_stability_index`.
    """
    levels = tuple(sorted(set(reference_counts) | set(window_counts)))
    table = np.array(
        [[reference_counts.get(level, 0) for level in levels], [window_counts.get(level, 0) for level in levels]]
    )
    stability = population_stability_index(table[0], table[1])
    if len(levels) < 2:
        return CategoricalDrift(levels, stability, 0.0, 0, 1.0, float("nan"))
    chi2, p, df, expected = stats.chi2_contingency(table, correction=False)
    return CategoricalDrift(levels, stability, float(chi2), int(df), float(p), float(expected.min()))


def holm_adjusted(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, for the many drift tests of one window (attributes x sites):
    reject where the adjusted p is below alpha keeps the family-wise error rate at alpha.

    References
    ----------
    Holm S (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of
    Statistics 6:65-70.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    stepped = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


# ---------------------------------------------------------------- Bernoulli CUSUM


@dataclass(frozen=True)
class CusumState:
    """Where a chart stands: its statistic (in the chart's integer units), the observations seen,
    and the observation counts (1-based) at which it alarmed; after an alarm it restarts at 0."""

    statistic: int = 0
    n_observed: int = 0
    alarms: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"statistic": self.statistic, "n_observed": self.n_observed, "alarms": list(self.alarms)}

    @classmethod
    def from_dict(cls, data: Mapping) -> CusumState:
        return cls(int(data["statistic"]), int(data["n_observed"]), tuple(map(int, data["alarms"])))


@dataclass(frozen=True)
class BernoulliCusum:
    """Bernoulli CUSUM for an increase of an error rate from ``p0`` (in control) to ``p1``.

    The chart runs in integer units: S = max(0, S + up) after an error, max(0, S - down) after a
    correct outcome, alarm when S >= ``threshold``. That is the chart B = max(0, B + X - k) with
    k = down / (up + down) and h = threshold / (up + down) (Reynolds & Stoumbos 1999), so its run
    length is exactly that of a finite Markov chain (Brook & Evans 1972): :meth:`arl` and
    :meth:`run_length_cdf` are exact, not approximations.
    """

    p0: float
    p1: float
    up: int
    down: int
    threshold: int

    @property
    def k(self) -> float:
        return self.down / (self.up + self.down)

    @property
    def h(self) -> float:
        return self.threshold / (self.up + self.down)

    def arl(self, p: float) -> float:
        """Average run length from S = 0 when the error rate is ``p``: ARL = [(I - Q)^-1 1]_0 over the
        transient states 0..threshold-1 (Brook & Evans 1972)."""
        transient = self._transitions(p)
        return float(np.linalg.solve(np.eye(self.threshold) - transient, np.ones(self.threshold))[0])

    def run_length_cdf(self, p: float, n_max: int) -> np.ndarray:
        """P(run length <= n) for n = 1..n_max from S = 0 at error rate ``p``: 1 - (Q^n 1)_0."""
        survival = self._survival_from_zero(p)
        return 1.0 - np.array([next(survival) for _ in range(n_max)])

    def run_length_quantile(self, p: float, q: float, *, n_max: int = 1_000_000) -> int:
        """The smallest n with P(run length <= n) >= ``q`` from S = 0. From any other state the run is
        stochastically shorter (the chart is monotone in its start), so after a change the delay is
        at most this with probability at least ``q`` whatever the statistic was at the change."""
        for n, survival in enumerate(self._survival_from_zero(p), start=1):
            if 1.0 - survival >= q:
                return n
            if n >= n_max:
                raise ValueError(f"the run length's {q} quantile exceeds {n_max}")
        raise AssertionError("unreachable")

    def _survival_from_zero(self, p: float):
        """P(run length > n) from S = 0 for n = 1, 2, ...: (Q^n 1)_0, Q applied in O(threshold) a step."""
        states = np.arange(self.threshold)
        after_error, after_correct = states + self.up, np.maximum(states - self.down, 0)
        stays = after_error < self.threshold
        survival = np.ones(self.threshold)
        while True:
            survival = (
                p * np.where(stays, survival[np.minimum(after_error, self.threshold - 1)], 0.0)
                + (1 - p) * survival[after_correct]
            )
            yield float(survival[0])

    def update(self, state: CusumState, errors: Sequence[int | bool]) -> CusumState:
        """The state after the new observations (1 an error, 0 a correct outcome), in their order."""
        path, alarmed = self.path(state, errors)
        alarms = tuple(state.n_observed + 1 + int(i) for i in np.nonzero(alarmed)[0])
        last = int(path[-1]) if path.size else state.statistic
        return CusumState(0 if path.size and alarmed[-1] else last, state.n_observed + path.size, state.alarms + alarms)

    def path(self, state: CusumState, errors) -> tuple[np.ndarray, np.ndarray]:
        """The statistic after each observation and whether it alarmed there, for plots; leading axes
        of ``errors`` are independent charts (as in a simulation), each starting from ``state``."""
        errors = np.asarray(errors, dtype=bool)
        if errors.ndim == 1:
            return self._single_path(state.statistic, errors)
        statistic = np.full(errors.shape[:-1], state.statistic, dtype=np.int64)
        path = np.empty(errors.shape, dtype=np.int64)
        alarmed = np.empty(errors.shape, dtype=bool)
        for i in range(errors.shape[-1]):
            statistic = np.maximum(statistic + np.where(errors[..., i], self.up, -self.down), 0)
            path[..., i] = statistic
            alarmed[..., i] = statistic >= self.threshold
            statistic = np.where(alarmed[..., i], 0, statistic)
        return path, alarmed

    def _single_path(self, start: int, errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One chart without a loop per observation: between alarms S_t = C_t - min(0, min_{u<=t} C_u)
        with C the running sum of the steps from ``start`` (Lindley's recursion for max(0, S + step))."""
        steps = np.where(errors, self.up, -self.down).astype(np.int64)
        path = np.empty(steps.size, dtype=np.int64)
        alarmed = np.zeros(steps.size, dtype=bool)
        begin = 0
        while begin < steps.size:
            running = start + np.cumsum(steps[begin:])
            segment = running - np.minimum(np.minimum.accumulate(running), 0)
            hits = np.flatnonzero(segment >= self.threshold)
            end = begin + (hits[0] + 1 if hits.size else segment.size)
            path[begin:end] = segment[: end - begin]
            if hits.size:
                alarmed[end - 1] = True
            begin, start = end, 0
        return path, alarmed

    def _transitions(self, p: float) -> np.ndarray:
        states = np.arange(self.threshold)
        transient = np.zeros((self.threshold, self.threshold))
        after_error = states + self.up
        stays = after_error < self.threshold
        transient[states[stays], after_error[stays]] += p
        np.add.at(transient, (states, np.maximum(states - self.down, 0)), 1 - p)
        return transient


def bernoulli_cusum_reference_value(p0: float, p1: float) -> float:
    """k = ln((1 - p0) / (1 - p1)) / ln(p1 (1 - p0) / (p0 (1 - p1))): the log-likelihood-ratio CUSUM
    for p0 -> p1 divided by its weight of an error (Reynolds & Stoumbos 1999, eq. 2)."""
    return float(np.log((1 - p0) / (1 - p1)) / np.log(p1 * (1 - p0) / (p0 * (1 - p1))))


def design_bernoulli_cusum(
    p0: float, p1: float, *, in_control_arl: float, max_denominator: int = 100
) -> BernoulliCusum:
    """The Bernoulli CUSUM for p0 -> p1 with the smallest threshold whose in-control ARL is at least
    ``in_control_arl`` (e.g. 500 confirmed positives between false alarms).

    Notes
    -----
    The likelihood-ratio chart is optimal for detecting p1 (Moustakides 1986); its reference value k
    (:func:`bernoulli_cusum_reference_value`) is replaced by the nearest fraction d/m with m at most
    ``max_denominator`` (Reynolds & Stoumbos 1999 use such a rational k so that the chart lives on
    a lattice), giving integer steps up = m - d and down = d. The in-control ARL grows with the
    threshold, found by doubling then bisection, each ARL by the Markov chain of Brook & Evans (1972).

    References
    ----------
    Page ES (1954). Continuous inspection schemes. Biometrika 41:100-115.
    Brook D, Evans DA (1972). An approach to the probability distribution of cusum run length.
    Biometrika 59:539-549.
    Moustakides GV (1986). Optimal stopping times for detecting changes in distributions. Annals
    of Statistics 14:1379-1387.
    Reynolds MR Jr, Stoumbos ZG (1999). A CUSUM chart for monitoring a proportion when inspecting
    continuously. Journal of Quality Technology 31:87-108.
    """
    if not 0 < p0 < p1 < 1:
        raise ValueError(f"the chart detects an increase of the error rate: need 0 < p0 < p1 < 1, got {p0}, {p1}")
    if in_control_arl <= 1:
        raise ValueError(f"the in-control ARL must exceed 1, got {in_control_arl}")
    k = Fraction(bernoulli_cusum_reference_value(p0, p1)).limit_denominator(max_denominator)
    if k.numerator == 0:  # k rounds to 0: the chart would never come down
        k = Fraction(1, max_denominator)
    up, down = k.denominator - k.numerator, k.numerator

    def chart(threshold: int) -> BernoulliCusum:
        return BernoulliCusum(p0, p1, up, down, threshold)

    low, high = 1, up
    while chart(high).arl(p0) < in_control_arl:
        low, high = high, 2 * high
    while high - low > 1:  # arl(low) < target <= arl(high), or low is the smallest threshold
        middle = (low + high) // 2
        low, high = (low, middle) if chart(middle).arl(p0) >= in_control_arl else (middle, high)
    return chart(low if chart(low).arl(p0) >= in_control_arl else high)
