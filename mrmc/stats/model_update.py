"""A new model version against the cleared one on the same locked cases: the statistics of a
modification protocol's acceptance criteria (predetermined change control plan).

Every comparison is paired (both versions scored every case) and standalone (no readers). Entry
point: :func:`evaluate_acceptance_criteria`, which takes the criteria as fixed in the protocol
(checked beforehand by :func:`validate_acceptance_criteria`) and returns pass/fail per criterion
with its estimate, interval and reason::

    criteria = {
        "auc_noninferiority": {"margin": 0.02, "alpha": 0.025},
        "sensitivity_floor": 0.85,                       # or {"min": 0.85, "judge": "estimate"}
        "specificity_floor": 0.80,
        "subgroup_max_drop": {"variable": "site", "max": 0.05},
        "calibration": {"slope": [0.8, 1.2], "intercept": [-0.2, 0.2]},
    }
    evaluation = evaluate_acceptance_criteria(
        criteria, truth=truth, reference_scores=cleared, candidate_scores=new,
        candidate_threshold=0.5, case_levels={"site": sites},
    )

Conventions: differences are candidate minus reference (negative: the new version is worse);
floors are judged on the lower confidence bound unless ``"judge": "estimate"``; subgroup drops
on the estimate unless ``"judge": "lower_bound"``; calibration on the estimates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from .covariance import delong_covariance
from .fom import FigureOfMerit, auc
from .proportions import PROPORTION_INTERVALS, Proportion, proportion

JUDGEMENTS = ("lower_bound", "estimate")
SUBGROUP_METRICS = ("auc", "sensitivity")
CRITERIA = ("auc_noninferiority", "sensitivity_floor", "specificity_floor", "subgroup_max_drop", "calibration")


@dataclass(frozen=True)
class PairedDifference:
    """Candidate minus reference figure of merit on the same cases, with its DeLong standard error.

    ``ci`` is two-sided at 1 - alpha; ``p`` tests a zero difference (two-sided).
    """

    metric: str
    reference: float
    candidate: float
    difference: float
    se: float
    correlation: float
    ci: tuple[float, float]
    z: float
    p: float
    n_normal: int
    n_abnormal: int


def paired_difference(
    reference_scores: np.ndarray,
    candidate_scores: np.ndarray,
    truth: np.ndarray,
    *,
    metric: str = "auc",
    alpha: float = 0.05,
) -> PairedDifference:
    """Paired DeLong comparison of two scores of the same cases (AUC, or sensitivity of 0/1 calls).

    Parameters
    ----------
    reference_scores, candidate_scores : array_like, shape (n_cases,)
        For ``metric='sensitivity'``: the calls (1 positive, 0 negative), see :func:`calls`.
    metric : {'auc', 'sensitivity'}

    Notes
    -----
    The covariance of the two AUCs is S10/n1 + S01/n0 from the placement values (structural
    components) of each score, Var(diff) = V11 + V22 - 2 V12 (DeLong, DeLong & Clarke-Pearson 1988,
    eq. for the contrast L theta); the placement values come from one sort per score (midranks), the
    O(N log N) algorithm of Sun & Xu (2014). For sensitivity the diseased cases' calls are the
    placement values and the same formula is the paired (McNemar-type) Wald variance of the
    difference of two correlated proportions with denominator n1 - 1.

    References
    ----------
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more correlated
    ROC curves: a nonparametric approach. Biometrics 44:837-845.
    Sun X, Xu W (2014). Fast implementation of DeLong's algorithm for comparing the areas under
    correlated receiver operating characteristic curves. IEEE Signal Processing Letters 21:1389-1393.
    """
    if metric not in SUBGROUP_METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(SUBGROUP_METRICS)}")
    truth = np.asarray(truth, dtype=bool)
    scores = np.vstack([np.asarray(reference_scores, dtype=float), np.asarray(candidate_scores, dtype=float)])
    if scores.shape[1] != truth.size:
        raise ValueError(f"scores cover {scores.shape[1]} cases but truth covers {truth.size}")
    n_abnormal, n_normal = int(truth.sum()), int((~truth).sum())
    if n_abnormal < 2 or (metric == "auc" and n_normal < 2):
        raise ValueError(f"a paired {metric} comparison needs at least two cases of each class it uses")
    if metric == "auc":
        theta = auc(scores, truth)
        cov = delong_covariance(FigureOfMerit("auc"), scores[:, None, :], truth)
    else:  # only the diseased cases vary: the non-diseased part of the DeLong sum is zero (and may be empty)
        diseased_calls = scores[:, truth] >= 0.5
        theta = diseased_calls.mean(axis=1)
        cov = np.cov(diseased_calls.astype(float)) / n_abnormal
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    se = float(np.sqrt(max(variance, 0.0)))
    difference = float(theta[1] - theta[0])
    half_width = special.ndtri(1 - alpha / 2) * se
    z = difference / se if se > 0 else float("nan")
    p = float(2 * special.ndtr(-abs(z))) if se > 0 else float("nan")
    denominator = np.sqrt(cov[0, 0] * cov[1, 1])
    correlation = float(cov[0, 1] / denominator) if denominator > 0 else float("nan")
    return PairedDifference(
        metric,
        float(theta[0]),
        float(theta[1]),
        difference,
        se,
        correlation,
        (float(difference - half_width), float(difference + half_width)),
        z,
        p,
        n_normal,
        n_abnormal,
    )


@dataclass(frozen=True)
class NonInferiority:
    """One-sided test of H0: candidate - reference <= -margin at level ``alpha``.

    ``lower_bound`` is the one-sided 1 - alpha lower confidence bound of the difference;
    non-inferior when it exceeds -margin (equivalently ``p`` < alpha).
    """

    comparison: PairedDifference
    margin: float
    alpha: float
    lower_bound: float
    z: float
    p: float
    non_inferior: bool


def auc_noninferiority(
    reference_scores: np.ndarray,
    candidate_scores: np.ndarray,
    truth: np.ndarray,
    *,
    margin: float,
    alpha: float = 0.025,
) -> NonInferiority:
    """Non-inferiority of the candidate's AUC to the reference's within ``margin`` (paired DeLong).

    Notes
    -----
    z = (diff + margin) / SE, p = 1 - Phi(z); the decision equals "the lower limit of the two-sided
    1 - 2 alpha interval lies above -margin" (Blackwelder 1982; FDA, Non-Inferiority Clinical Trials
    to Establish Effectiveness, 2016).

    References
    ----------
    Blackwelder WC (1982). "Proving the null hypothesis" in clinical trials. Controlled Clinical
    Trials 3:345-353. DeLong et al. (1988), see :func:`paired_difference`.
    """
    if margin < 0:
        raise ValueError(f"the non-inferiority margin is a positive AUC difference, got {margin}")
    comparison = paired_difference(reference_scores, candidate_scores, truth, metric="auc", alpha=2 * alpha)
    lower_bound = comparison.ci[0]
    if comparison.se > 0:
        z = (comparison.difference + margin) / comparison.se
        p = float(special.ndtr(-z))
    else:  # identical scores: the difference is known exactly
        inferior = comparison.difference <= -margin
        z, p = (float("-inf") if inferior else float("inf")), float(inferior)
    return NonInferiority(comparison, margin, alpha, lower_bound, float(z), p, bool(lower_bound > -margin))


def calls(scores: np.ndarray, threshold: float) -> np.ndarray:
    """1.0 where a score is at or above the operating threshold (a positive call), else 0.0."""
    return (np.asarray(scores, dtype=float) >= threshold).astype(float)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    sensitivity: Proportion
    specificity: Proportion


def operating_point(
    scores: np.ndarray, truth: np.ndarray, threshold: float, *, alpha: float = 0.05, interval: str = "wilson"
) -> OperatingPoint:
    """Sensitivity and specificity of positive calls (score >= ``threshold``) with binomial intervals
    (:func:`mrmc.stats.proportions.proportion`: Wilson score by default, or Clopper-Pearson)."""
    truth = np.asarray(truth, dtype=bool)
    positive = calls(scores, threshold).astype(bool)
    return OperatingPoint(
        threshold,
        proportion(int(np.sum(positive & truth)), int(truth.sum()), alpha=alpha, method=interval),
        proportion(int(np.sum(~positive & ~truth)), int((~truth).sum()), alpha=alpha, method=interval),
    )


@dataclass(frozen=True)
class SubgroupDifference:
    """One level of a case variable; ``comparison`` is None when the level is too small to compare."""

    variable: str
    level: str
    n_normal: int
    n_abnormal: int
    comparison: PairedDifference | None


def subgroup_differences(
    reference_scores: np.ndarray,
    candidate_scores: np.ndarray,
    truth: np.ndarray,
    levels: Sequence[object],
    *,
    variable: str,
    metric: str = "auc",
    alpha: float = 0.05,
    min_per_class: int = 10,
) -> tuple[SubgroupDifference, ...]:
    """:func:`paired_difference` within each level of one case variable (site, manufacturer, ...).

    A level with fewer than ``min_per_class`` diseased cases (or, for the AUC, non-diseased cases)
    is reported without a comparison; missing values ("" or None) form no level. Intervals are
    per subgroup, not adjusted for multiplicity.
    """
    truth = np.asarray(truth, dtype=bool)
    reference_scores, candidate_scores = np.asarray(reference_scores), np.asarray(candidate_scores)
    labels = np.array(["" if value is None else str(value) for value in levels], dtype=object)
    if labels.size != truth.size:
        raise ValueError(f"{variable!r} has {labels.size} values for {truth.size} cases")
    results = []
    for level in sorted(set(labels) - {""}):
        members = labels == level
        n_abnormal, n_normal = int(np.sum(truth & members)), int(np.sum(~truth & members))
        evaluable = min(n_abnormal, n_normal if metric == "auc" else n_abnormal) >= max(min_per_class, 2)
        comparison = None
        if evaluable:
            comparison = paired_difference(
                reference_scores[members], candidate_scores[members], truth[members], metric=metric, alpha=alpha
            )
        results.append(SubgroupDifference(variable, level, n_normal, n_abnormal, comparison))
    return tuple(results)


@dataclass(frozen=True)
class Calibration:
    """Logistic recalibration of predicted probabilities: ideal intercept 0 and slope 1.

    ``intercept`` is calibration-in-the-large (slope fixed at 1), ``slope`` the calibration slope;
    intervals are Wald at 1 - alpha. ``expected_calibration_error`` uses ``n_bins`` equal-width bins.
    """

    intercept: float
    intercept_ci: tuple[float, float]
    slope: float
    slope_ci: tuple[float, float]
    expected_calibration_error: float
    n_bins: int
    n: int


def calibration(probabilities: np.ndarray, truth: np.ndarray, *, alpha: float = 0.05, n_bins: int = 10) -> Calibration:
    """Calibration intercept and slope by logistic recalibration, and the expected calibration error.

    Notes
    -----
    With lp = logit(p), the slope b is the coefficient of logit P(y = 1) = a + b lp (Cox 1958); the
    calibration-in-the-large a is the intercept of logit P(y = 1) = a + lp, lp an offset (Van Calster
    et al. 2016, level "weak" calibration). Both are maximum-likelihood fits (Newton-Raphson) with
    Wald intervals from the observed information. Probabilities are clipped to [1e-12, 1 - 1e-12]
    so that 0 and 1 have a finite logit. ECE = sum over bins of n_b / n |mean(y) - mean(p)|
    (Naeini, Cooper & Hauskrecht 2015).

    References
    ----------
    Cox DR (1958). Two further applications of a model for binary regression. Biometrika 45:562-565.
    Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW (2016). A calibration
    hierarchy for risk models was defined: from utopia to empirical data. Journal of Clinical
    Epidemiology 74:167-176.
    Naeini MP, Cooper GF, Hauskrecht M (2015). Obtaining well calibrated probabilities using
    Bayesian binning. AAAI 2015:2901-2907.
    """
    probabilities = np.asarray(probabilities, dtype=float)
    outcome = np.asarray(truth, dtype=bool).astype(float)
    if probabilities.size != outcome.size:
        raise ValueError(f"{probabilities.size} probabilities for {outcome.size} cases")
    if np.any((probabilities < 0) | (probabilities > 1)) or not np.all(np.isfinite(probabilities)):
        raise ValueError("calibration needs the model's outputs as probabilities between 0 and 1")
    if outcome.min() == outcome.max():
        raise ValueError("calibration needs both diseased and non-diseased cases")
    clipped = np.clip(probabilities, 1e-12, 1 - 1e-12)
    linear_predictor = np.log(clipped / (1 - clipped))
    z = special.ndtri(1 - alpha / 2)
    ones = np.ones_like(linear_predictor)
    (intercept,), intercept_cov = _logistic_fit(ones[:, None], outcome, offset=linear_predictor)
    (_, slope), slope_cov = _logistic_fit(np.column_stack([ones, linear_predictor]), outcome)
    intercept_se, slope_se = np.sqrt(intercept_cov[0, 0]), np.sqrt(slope_cov[1, 1])
    bins = np.minimum((probabilities * n_bins).astype(int), n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=outcome - probabilities, minlength=n_bins)
    return Calibration(
        float(intercept),
        (float(intercept - z * intercept_se), float(intercept + z * intercept_se)),
        float(slope),
        (float(slope - z * slope_se), float(slope + z * slope_se)),
        float(np.sum(np.abs(gap[counts > 0])) / outcome.size),
        n_bins,
        int(outcome.size),
    )


def _logistic_fit(
    design: np.ndarray, outcome: np.ndarray, *, offset: np.ndarray | None = None, max_iterations: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression by Newton-Raphson: (coefficients, their covariance)."""
    offset = np.zeros(outcome.size) if offset is None else offset
    coefficients = np.zeros(design.shape[1])
    for _ in range(max_iterations):
        fitted = special.expit(design @ coefficients + offset)
        information = design.T @ (design * (fitted * (1 - fitted))[:, None])
        step = np.linalg.solve(information, design.T @ (outcome - fitted))
        coefficients = coefficients + step
        if np.max(np.abs(step)) < 1e-10:
            break
    else:
        raise ValueError("the logistic recalibration did not converge (outcomes separated by the scores?)")
    fitted = special.expit(design @ coefficients + offset)
    information = design.T @ (design * (fitted * (1 - fitted))[:, None])
    return coefficients, np.linalg.inv(information)


@dataclass(frozen=True)
class CriterionResult:
    """One acceptance criterion: ``limit`` states what passes, ``reason`` why it did or did not.

    ``estimate`` and ``ci``: the AUC difference (non-inferiority), the proportion (floors), the worst
    subgroup's difference (subgroup drop) or the calibration slope. ``details`` holds the per-subgroup
    results of ``subgroup_max_drop`` (empty otherwise).
    """

    name: str
    passed: bool
    estimate: float
    ci: tuple[float, float]
    limit: str
    reason: str
    details: tuple[SubgroupDifference, ...] = ()


@dataclass(frozen=True)
class AcceptanceEvaluation:
    passed: bool
    criteria: tuple[CriterionResult, ...]
    n_normal: int
    n_abnormal: int


def validate_acceptance_criteria(criteria: Mapping[str, object]) -> dict[str, dict]:
    """The criteria in their full form, or ValueError naming the criterion and the problem.

    A floor given as a number becomes ``{"min": value, "judge": "lower_bound"}``. Run this when the
    modification protocol is fixed, so that a bad criterion is refused before any evaluation.
    """
    if not isinstance(criteria, Mapping) or not criteria:
        raise ValueError("acceptance criteria must be a non-empty mapping of criterion name to its limits")
    unknown = sorted(set(criteria) - set(CRITERIA))
    if unknown:
        raise ValueError(f"unknown acceptance criteria {', '.join(unknown)}; choose from {', '.join(CRITERIA)}")
    full = {}
    for name, spec in criteria.items():
        spec = {"min": spec} if name.endswith("_floor") and isinstance(spec, int | float) else spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"{name}: give its limits as a mapping")
        full[name] = _validated(name, dict(spec))
    return full


def _validated(name: str, spec: dict) -> dict:
    def fraction(key: str, *, low: float = 0.0, high: float = 1.0, default: float | None = None) -> float:
        value = spec.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ValueError(f"{name}: {key!r} must be a number between {low} and {high}, got {value!r}")
        return float(value)

    def allowed(key: str, default: str, choices: tuple[str, ...]) -> str:
        value = spec.get(key, default)
        if value not in choices:
            raise ValueError(f"{name}: {key!r} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def interval(key: str) -> tuple[float, float] | None:
        value = spec.get(key)
        if value is None:
            return None
        if not isinstance(value, Sequence) or len(value) != 2 or not all(isinstance(v, int | float) for v in value):
            raise ValueError(f"{name}: {key!r} must be [low, high], got {value!r}")
        if value[0] > value[1]:
            raise ValueError(f"{name}: {key!r} low limit {value[0]} exceeds its high limit {value[1]}")
        return float(value[0]), float(value[1])

    known = {
        "auc_noninferiority": {"margin", "alpha"},
        "sensitivity_floor": {"min", "judge", "alpha", "interval"},
        "specificity_floor": {"min", "judge", "alpha", "interval"},
        "subgroup_max_drop": {"variable", "max", "metric", "judge", "alpha", "min_per_class"},
        "calibration": {"slope", "intercept", "ece_max", "alpha", "n_bins"},
    }[name]
    extra = sorted(set(spec) - known)
    if extra:
        raise ValueError(f"{name}: unknown setting {', '.join(extra)}; allowed: {', '.join(sorted(known))}")
    if name == "auc_noninferiority":
        return {"margin": fraction("margin"), "alpha": fraction("alpha", high=0.5, default=0.025)}
    if name.endswith("_floor"):
        return {
            "min": fraction("min"),
            "judge": allowed("judge", "lower_bound", JUDGEMENTS),
            "alpha": fraction("alpha", high=0.5, default=0.05),
            "interval": allowed("interval", "wilson", PROPORTION_INTERVALS),
        }
    if name == "subgroup_max_drop":
        variable = spec.get("variable")
        if not isinstance(variable, str) or not variable:
            raise ValueError(f"{name}: 'variable' must name a case variable (e.g. 'site')")
        min_per_class = spec.get("min_per_class", 10)
        if isinstance(min_per_class, bool) or not isinstance(min_per_class, int) or min_per_class < 2:
            raise ValueError(f"{name}: 'min_per_class' must be an integer of at least 2, got {min_per_class!r}")
        return {
            "variable": variable,
            "max": fraction("max"),
            "metric": allowed("metric", "auc", SUBGROUP_METRICS),
            "judge": allowed("judge", "estimate", JUDGEMENTS),
            "alpha": fraction("alpha", high=0.5, default=0.05),
            "min_per_class": min_per_class,
        }
    limits = {"slope": interval("slope"), "intercept": interval("intercept")}
    if "ece_max" in spec:
        limits["ece_max"] = fraction("ece_max")
    if not any(value is not None for value in limits.values()):
        raise ValueError(f"{name}: set at least one of 'slope', 'intercept', 'ece_max'")
    n_bins = spec.get("n_bins", 10)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 2:
        raise ValueError(f"{name}: 'n_bins' must be an integer of at least 2, got {n_bins!r}")
    return {**limits, "alpha": fraction("alpha", high=0.5, default=0.05), "n_bins": n_bins}


def evaluate_acceptance_criteria(
    criteria: Mapping[str, object],
    *,
    truth: np.ndarray,
    reference_scores: np.ndarray,
    candidate_scores: np.ndarray,
    candidate_threshold: float,
    reference_threshold: float | None = None,
    case_levels: Mapping[str, Sequence[object]] | None = None,
    candidate_probabilities: np.ndarray | None = None,
) -> AcceptanceEvaluation:
    """Judge a candidate model version against the reference (cleared) version on the same cases.

    Parameters
    ----------
    criteria : mapping
        As fixed in the modification protocol (see the module docstring and
        :func:`validate_acceptance_criteria`).
    truth : array_like of bool, shape (n_cases,)
    reference_scores, candidate_scores : array_like, shape (n_cases,)
        Each version's output for every case.
    candidate_threshold, reference_threshold : float
        Each version's operating point (a score at or above it is a positive call); the reference's
        defaults to the candidate's and is used only by a sensitivity subgroup criterion.
    case_levels : mapping of variable -> value per case
        Needed by ``subgroup_max_drop`` (its ``variable`` must be a key).
    candidate_probabilities : array_like, optional
        The candidate's outputs as probabilities for ``calibration`` (default: ``candidate_scores``).

    Returns
    -------
    AcceptanceEvaluation
        ``passed`` when every criterion passed; each :class:`CriterionResult` says why.
    """
    full = validate_acceptance_criteria(criteria)
    truth = np.asarray(truth, dtype=bool)
    reference = np.asarray(reference_scores, dtype=float)
    candidate = np.asarray(candidate_scores, dtype=float)
    if not reference.shape == candidate.shape == truth.shape:
        raise ValueError(f"scores {reference.shape} and {candidate.shape} must match the truth's {truth.shape}")
    reference_threshold = candidate_threshold if reference_threshold is None else reference_threshold
    results = []
    for name, spec in full.items():
        if name == "auc_noninferiority":
            results.append(_noninferiority_result(reference, candidate, truth, spec))
        elif name.endswith("_floor"):
            results.append(_floor_result(name, candidate, truth, candidate_threshold, spec))
        elif name == "subgroup_max_drop":
            levels = (case_levels or {}).get(spec["variable"])
            if levels is None:
                raise ValueError(f"subgroup_max_drop: no case values given for variable {spec['variable']!r}")
            if spec["metric"] == "sensitivity":
                reference_input, candidate_input = (
                    calls(reference, reference_threshold),
                    calls(candidate, candidate_threshold),
                )
            else:
                reference_input, candidate_input = reference, candidate
            results.append(_subgroup_result(reference_input, candidate_input, truth, levels, spec))
        else:
            probabilities = candidate if candidate_probabilities is None else candidate_probabilities
            results.append(_calibration_result(probabilities, truth, spec))
    return AcceptanceEvaluation(
        all(result.passed for result in results), tuple(results), int((~truth).sum()), int(truth.sum())
    )


def _noninferiority_result(reference, candidate, truth, spec) -> CriterionResult:
    test = auc_noninferiority(reference, candidate, truth, margin=spec["margin"], alpha=spec["alpha"])
    comparison = test.comparison
    level = f"{100 * (1 - spec['alpha']):g}%"
    verdict = "above" if test.non_inferior else "not above"
    return CriterionResult(
        "auc_noninferiority",
        test.non_inferior,
        comparison.difference,
        comparison.ci,
        f"one-sided {level} lower bound of AUC difference (new - cleared) > -{spec['margin']:g}",
        f"AUC {comparison.candidate:.4f} vs {comparison.reference:.4f}: difference {comparison.difference:+.4f}, "
        f"lower bound {test.lower_bound:+.4f} {verdict} -{spec['margin']:g} (paired DeLong, p = {test.p:.4g})",
    )


def _floor_result(name, candidate, truth, threshold, spec) -> CriterionResult:
    point = operating_point(candidate, truth, threshold, alpha=spec["alpha"], interval=spec["interval"])
    measured = point.sensitivity if name == "sensitivity_floor" else point.specificity
    label = name.removesuffix("_floor")
    judged = measured.ci[0] if spec["judge"] == "lower_bound" else measured.estimate
    judged_as = "estimate"
    if spec["judge"] == "lower_bound":
        judged_as = f"lower bound of the {100 * (1 - spec['alpha']):g}% {spec['interval']} interval"
    passed = bool(judged >= spec["min"])
    return CriterionResult(
        name,
        passed,
        measured.estimate,
        measured.ci,
        f"{label} {judged_as} >= {spec['min']:g}",
        f"{label} {measured.successes}/{measured.n} = {measured.estimate:.4f} at threshold {threshold:g}; "
        f"{judged_as} {judged:.4f} {'meets' if passed else 'is below'} the floor {spec['min']:g}",
    )


def _subgroup_result(reference, candidate, truth, levels, spec) -> CriterionResult:
    subgroups = subgroup_differences(
        reference,
        candidate,
        truth,
        levels,
        variable=spec["variable"],
        metric=spec["metric"],
        alpha=spec["alpha"],
        min_per_class=spec["min_per_class"],
    )
    compared = [group for group in subgroups if group.comparison is not None]
    limit = f"every {spec['variable']} with {spec['min_per_class']}+ cases per class: {spec['metric']} change " + (
        f"{spec['judge'].replace('_', ' ')} >= -{spec['max']:g}"
    )
    if not compared:
        return CriterionResult(
            "subgroup_max_drop",
            False,
            float("nan"),
            (float("nan"), float("nan")),
            limit,
            f"no {spec['variable']} has enough cases to compare ({spec['min_per_class']} per class needed)",
            subgroups,
        )

    def judged(group: SubgroupDifference) -> float:
        return group.comparison.ci[0] if spec["judge"] == "lower_bound" else group.comparison.difference

    worst = min(compared, key=judged)
    failing = [group for group in compared if judged(group) < -spec["max"]]
    too_small = [group.level for group in subgroups if group.comparison is None]
    if failing:
        reason = "worse by more than {:g}: ".format(spec["max"]) + "; ".join(
            f"{spec['variable']} {group.level} {group.comparison.difference:+.4f} "
            f"(CI {group.comparison.ci[0]:+.4f} to {group.comparison.ci[1]:+.4f})"
            for group in failing
        )
    else:
        reason = (
            f"no {spec['variable']} worse by more than {spec['max']:g}; the worst is {worst.level} with "
            f"{worst.comparison.difference:+.4f}"
        )
    if too_small:
        reason += f"; not compared (too few cases): {', '.join(too_small)}"
    return CriterionResult(
        "subgroup_max_drop", not failing, worst.comparison.difference, worst.comparison.ci, limit, reason, subgroups
    )


def _calibration_result(probabilities, truth, spec) -> CriterionResult:
    fit = calibration(probabilities, truth, alpha=spec["alpha"], n_bins=spec["n_bins"])
    checks, limits = [], []
    for key, estimate, ci in (("slope", fit.slope, fit.slope_ci), ("intercept", fit.intercept, fit.intercept_ci)):
        if spec[key] is not None:
            low, high = spec[key]
            limits.append(f"{key} in [{low:g}, {high:g}]")
            checks.append((low <= estimate <= high, f"{key} {estimate:.3f} (CI {ci[0]:.3f} to {ci[1]:.3f})"))
    if "ece_max" in spec:
        limits.append(f"ECE <= {spec['ece_max']:g}")
        checks.append((fit.expected_calibration_error <= spec["ece_max"], f"ECE {fit.expected_calibration_error:.4f}"))
    passed = all(ok for ok, _ in checks)
    outside = [text for ok, text in checks if not ok]
    reason = ("within limits: " if passed else "outside limits: ") + "; ".join(
        [text for _, text in checks] if passed else outside
    )
    return CriterionResult("calibration", passed, fit.slope, fit.slope_ci, ", ".join(limits), reason)
