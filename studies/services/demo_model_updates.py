"""The analysed demo study as a locked evaluation of its AI (the cleared demo-mammo-ai 2.1) with two model updates
evaluated on it: 2.2, which scores every diseased case a little higher and passes, and 2.3, which scores site-1's
diseased cases higher and site-2's lower: non-inferior overall, it fails the subgroup criterion at site-2 (its AUC
about 0.06 lower), so that a new user sees both verdicts and why on the locked evaluations page."""

from studies.models import AnalysisRun, LockedEvaluation, ModelUpdateEvaluation, User
from studies.services import model_updates

DEMO_CRITERIA = {
    "auc_noninferiority": {"margin": 0.05, "alpha": 0.025},
    "sensitivity_floor": {"min": 0.6, "judge": "estimate"},
    "specificity_floor": {"min": 0.6, "judge": "estimate"},
    "subgroup_max_drop": {"variable": "site", "max": 0.05},
}
UPDATES = (("2.2", {"site-1": 0.05, "site-2": 0.05}), ("2.3", {"site-1": 0.15, "site-2": -0.10}))


def seed_model_update_demo(run: AnalysisRun) -> LockedEvaluation:
    """The analysed demo study's locked evaluation with its two looks (made on first call; safe to run again)."""
    study = run.study
    existing = study.locked_evaluations.order_by("version").first()
    if existing is not None:
        return existing
    statistician = User.objects.get(username="statistician")
    evaluation = model_updates.lock_evaluation(actor=statistician, study=study, criteria=DEMO_CRITERIA,
                                               name="Modification protocol for demo-mammo-ai")
    for version, shift in UPDATES:
        model_updates.evaluate_update(actor=statistician, evaluation=evaluation, model_name="demo-mammo-ai",
                                      model_version=version, scores=_shifted(evaluation, shift), operating_point=0.5,
                                      source=ModelUpdateEvaluation.Source.IMPORTED)
    return evaluation


def _shifted(evaluation: LockedEvaluation, shift: dict[str, float]) -> dict[str, float]:
    """The cleared scores with each diseased case's moved by its site's shift (kept within 0 to 1)."""
    cleared = evaluation.reference["scores"]
    return {case["case"]: min(1.0, max(0.0, cleared[case["case"]] + case["truth"] * shift[case["subgroups"]["site"]]))
            for case in evaluation.cases}
