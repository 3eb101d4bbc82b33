"""A simulated power plan: the planned sizes, and the model each design is simulated from.

A pilot's OR analysis gives the control AUC, var_R, var_TR and the error correlations
Cov1/Var, Cov2/Var, Cov3/Var; :func:`mrmc.stats.roe_metz_params.roe_metz_from_or` turns them
into an equal-variance Roe & Metz model with the planned effect added (Hillis 2018, 2020). The
FROC design is simulated from the FROC search model of :class:`mrmc.stats.power_sim.FrocPowerModel`,
the effect being the lesions' extra separation in the second treatment.

References
----------
Hillis SL (2018). Relationship between Roe and Metz simulation model for multireader diagnostic
data and Obuchowski-Rockette model parameters. Statistics in Medicine 37:2067-2093.
Hillis SL (2020). Determining Roe and Metz model parameters for simulating multireader multicase
confidence-of-disease rating data based on real-data or conjectured Obuchowski-Rockette parameter
estimates. Journal of Medical Imaging 7(5):056501.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .analysis import analyze_study
from .data import ReaderStudy
from .power import PilotEstimates
from .power_designs import readers_mean_auc
from .power_sim import DESIGNS, FrocPowerModel, PowerSpec
from .roe_metz_params import RoeMetzModel, roe_metz_from_or


@dataclass(frozen=True)
class PowerPlan:
    """The planned design: which test, the effect to detect and the sizes to simulate (every reader
    count with every case count).

    ``effect``: the AUC difference (second treatment minus first; for ``ai_vs_readers`` the readers'
    mean AUC minus the AI's; for ``froc`` the lesions' extra separation). Each case count is split
    half abnormal (the odd case normal).
    """

    design: str
    effect: float
    readers: tuple[int, ...]
    cases: tuple[int, ...]
    alpha: float = 0.05
    groups: int | None = None
    missing: float = 0.0

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ValueError(f"unknown design {self.design!r}; choose one of {', '.join(DESIGNS)}")
        if not self.readers or min(self.readers) < 2:
            raise ValueError("simulated power needs reader counts of at least 2")
        if not self.cases or min(self.cases) < 4:
            raise ValueError("simulated power needs case counts of at least 4")


def pilot_model(
    plan: PowerPlan, *, pilot: PilotEstimates, control_auc: float, var_r: float, n_abnormal: int
) -> tuple[RoeMetzModel | FrocPowerModel, dict]:
    """The model the plan's design is simulated from, and how well it reproduces the pilot.

    ``n_abnormal``: the pilot's abnormal cases (its correlations refer to its own case mix).
    """
    if plan.design == "froc":
        return FrocPowerModel(treatment_effect=plan.effect), {}
    correlations = (pilot.cov1 / pilot.var_error, pilot.cov2 / pilot.var_error, pilot.cov3 / pilot.var_error)
    fit = roe_metz_from_or(
        auc=(control_auc, control_auc + (0.0 if plan.design == "ai_vs_readers" else plan.effect)),
        var_R=var_r, var_TR=pilot.var_TR, correlations=correlations,
        n_normal=pilot.n_cases - n_abnormal, n_abnormal=n_abnormal,
    )
    details = {"roe_metz": asdict(fit.model), "or_misfit": fit.max_residual, "implied_var_error": fit.implied.var_error}
    return fit.model, details


def model_from_pilot_study(
    plan: PowerPlan, study: ReaderStudy, *, control: int = 0, control_auc: float | None = None,
    var_r: float | None = None, **analysis_options,
) -> tuple[RoeMetzModel | FrocPowerModel, dict]:
    """:func:`pilot_model` with the OR parameters of ``study``'s analysis (``analysis_options`` as for
    :func:`mrmc.stats.analyze`); ``control``: the index of the control treatment, whose AUC the model
    starts from unless ``control_auc`` is given, as ``var_r`` replaces the pilot's var_R."""
    result = analyze_study(study, **analysis_options)
    pilot = PilotEstimates.from_components(result.analysis.var_components, study.truth.size)
    return pilot_model(
        plan, pilot=pilot,
        control_auc=control_auc if control_auc is not None else float(result.fom_table[control].mean()),
        var_r=var_r if var_r is not None else result.analysis.var_components.var_R,
        n_abnormal=int(study.truth.sum()),
    )


def plan_specs(plan: PowerPlan, model: RoeMetzModel | FrocPowerModel) -> list[PowerSpec]:
    """One :class:`PowerSpec` per planned reader count and case count (readers outer)."""
    # AI versus readers: the AI's AUC lies ``effect`` below the readers' mean
    ai_auc = readers_mean_auc(model) - plan.effect if plan.design == "ai_vs_readers" else None
    return [
        PowerSpec(
            plan.design, model, n_readers, n_cases - n_cases // 2, n_cases // 2, n_groups=plan.groups,
            missing_fraction=plan.missing, alpha=plan.alpha, ai_auc=ai_auc,
        )
        for n_readers in plan.readers
        for n_cases in plan.cases
    ]
