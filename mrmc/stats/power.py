"""Power and sample size for a two-treatment MRMC study from pilot OR variance components."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scipy import stats

from .or_results import VarianceComponents

GENERALIZATIONS = ("rrrc", "frrc", "rrfc")


@dataclass(frozen=True)
class PilotEstimates:
    """OR components from a pilot study and the number of cases they were estimated on.

    Error variance and covariances scale as pilot_cases / planned cases; a negative
    var_TR is taken as 0 (Hillis, Obuchowski & Berbaum 2011).
    """

    var_TR: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    n_cases: int

    @classmethod
    def from_components(cls, components: VarianceComponents, n_cases: int) -> PilotEstimates:
        if None in (components.var_TR, components.cov1, components.cov2, components.cov3):
            raise ValueError("power needs a pilot with at least two treatments and two readers")
        return cls(
            var_TR=components.var_TR,
            var_error=components.var_error,
            cov1=components.cov1,
            cov2=components.cov2,
            cov3=components.cov3,
            n_cases=n_cases,
        )


@dataclass(frozen=True)
class PowerResult:
    """Power of one design; ``df2`` is None for the FRRC chi-square test."""

    power: float
    generalization: str
    n_readers: int
    n_cases: int
    effect_size: float
    df1: int
    df2: float | None
    noncentrality: float


def study_power(
    pilot: PilotEstimates,
    *,
    n_readers: int,
    n_cases: int,
    effect_size: float,
    generalization: str = "rrrc",
    alpha: float = 0.05,
) -> PowerResult:
    """Power of the OR test of two treatments to detect an AUC difference ``effect_size``.

    Parameters
    ----------
    generalization : {'rrrc', 'frrc', 'rrfc'}
        RRRC F test with Hillis ddf, FRRC chi-square test, or RRFC F test.

    Notes
    -----
    Error variance and covariances are scaled to the planned number of cases c. With
    D = max(Cov2 - Cov3, 0) and M = var_TR + Var - Cov1 - D: RRRC den = M + J D,
    ddf = den^2 / (M^2 / (J - 1)); RRFC den = M, ddf = J - 1; FRRC den = Var - Cov1 + (J - 1) D
    with a chi-square test. Noncentrality = J d^2 / (2 den).

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS (2011). Power estimation for multireader ROC
    methods: an updated and unified approach. Academic Radiology 18:129-142.
    """
    if generalization not in GENERALIZATIONS:
        raise ValueError(f"unknown generalization {generalization!r}; choose one of {', '.join(GENERALIZATIONS)}")
    if n_readers < 2 or n_cases < 2:
        raise ValueError("power needs at least 2 readers and 2 cases")
    scale = pilot.n_cases / n_cases
    excess = max(pilot.cov2 - pilot.cov3, 0.0) * scale
    within_reader = (pilot.var_error - pilot.cov1) * scale
    interaction = max(pilot.var_TR, 0.0) + within_reader - excess
    if generalization == "frrc":
        denominator, ddf = within_reader + (n_readers - 1) * excess, None
        reference = stats.chi2(1)
    elif generalization == "rrfc":
        denominator, ddf = interaction, float(n_readers - 1)
        reference = stats.f(1, ddf)
    else:
        denominator = interaction + n_readers * excess
        ddf = denominator**2 / (interaction**2 / (n_readers - 1))
        reference = stats.f(1, ddf)
    noncentrality = n_readers * effect_size**2 / (2 * denominator)
    critical = reference.ppf(1 - alpha)
    # scipy's noncentral sf misbehaves at noncentrality 0 (ncf.sf returns -cdf in scipy 1.17)
    if noncentrality == 0:
        power = reference.sf(critical)
    elif ddf is None:
        power = stats.ncx2.sf(critical, 1, noncentrality)
    else:
        power = stats.ncf.sf(critical, 1, ddf, noncentrality)
    return PowerResult(
        power=float(power),
        generalization=generalization,
        n_readers=n_readers,
        n_cases=n_cases,
        effect_size=effect_size,
        df1=1,
        df2=None if ddf is None else float(ddf),
        noncentrality=float(noncentrality),
    )


def cases_for_power(
    pilot: PilotEstimates,
    *,
    n_readers: int,
    effect_size: float,
    target_power: float = 0.8,
    generalization: str = "rrrc",
    alpha: float = 0.05,
    max_cases: int = 1_000_000,
) -> int | None:
    """Smallest number of cases giving ``target_power`` with ``n_readers`` (None if unreachable)."""

    def power(cases: int) -> float:
        return study_power(
            pilot,
            n_readers=n_readers,
            n_cases=cases,
            effect_size=effect_size,
            generalization=generalization,
            alpha=alpha,
        ).power

    if power(max_cases) < target_power:
        return None
    low, high = 2, max_cases
    while low < high:
        middle = (low + high) // 2
        if power(middle) >= target_power:
            high = middle
        else:
            low = middle + 1
    return low


def sample_size_table(
    pilot: PilotEstimates,
    *,
    effect_size: float,
    readers: Iterable[int] = range(3, 16),
    target_power: float = 0.8,
    generalization: str = "rrrc",
    alpha: float = 0.05,
) -> list[tuple[int, int | None]]:
    """(readers, cases needed) pairs for a target power; None where no case count suffices."""
    return [
        (
            n_readers,
            cases_for_power(
                pilot,
                n_readers=n_readers,
                effect_size=effect_size,
                target_power=target_power,
                generalization=generalization,
                alpha=alpha,
            ),
        )
        for n_readers in readers
    ]
