"""Each pre-specified endpoint's decision against its rule, from a run's results document.

The rules are those of :mod:`studies.services.endpoints`: one-sided tests of the AI − control
difference, the primary and co-primary endpoints each at the full one-sided level and all
required, the secondary endpoints by Holm's step-down procedure once the primary family has
succeeded. The difference, its standard error and degrees of freedom are the RRRC analysis's;
the bound is recomputed at the protocol's level (t with the analysis's df, or normal where it
has none), so the decision does not depend on the run's own α.
"""

from dataclasses import dataclass
from operator import itemgetter

from scipy import stats

from studies.rules import analysis_arm_order
from studies.services.endpoints import endpoint_plan, one_sided_alpha

FIGURE_LABELS = {"auc": "AUC", "pauc": "pAUC", "sensitivity": "sensitivity", "specificity": "specificity",
                 "wafroc": "wAFROC FOM", "afroc": "AFROC FOM", "hrauc": "HrAUC"}
RUN_FOM = {"auc": "auc", "pauc": "pauc", "sensitivity": "sens", "specificity": "spec"}
FROC_FIGURES = {"wafroc", "afroc", "hrauc"}
HYPOTHESIS_LABELS = {"superiority": "superiority", "non_inferiority": "non-inferiority"}


@dataclass(frozen=True)
class Difference:
    """An AI − control difference of one figure of merit, with where it came from."""

    comparison: str
    estimate: float
    se: float
    df: float | None
    source: str


class NotAnalysed(Exception):
    """The run did not compute this endpoint; the message says why."""


INTERIM_NOTE = ("interim run: these decisions are descriptive, not confirmatory (no alpha is spent on interim "
                "looks); the confirmatory decision is the final run's.")


def decide_endpoints(*, endpoints: dict, results: dict, interim: bool = False) -> dict:
    """The decision of every pre-specified endpoint and of the study's primary hypothesis."""
    if not endpoints:
        return {"specified": False}
    plan = endpoint_plan(endpoints)
    level = one_sided_alpha(plan)
    family = [("primary", plan["primary"])] + [("co-primary", e) for e in plan["co_primary"]]
    primary = [_decide(role, endpoint, results, level) for role, endpoint in family]
    primary_success = all(decision["decision"] == "success" for decision in primary)
    if primary_success:
        outcome = "success"
    elif any(decision["decision"] == "failure" for decision in primary):
        outcome = "failure"
    else:
        outcome = "not analysed"
    return {
        "specified": True,
        "plan": plan,
        "one_sided_alpha": level,
        "ci_level": 1 - 2 * level,
        "primary_outcome": outcome,
        "note": INTERIM_NOTE if interim else "",
        "endpoints": primary + _holm(plan["secondary"], results, level, gate_open=primary_success),
    }


def _decide(role: str, endpoint: dict, results: dict, level: float) -> dict:
    try:
        difference = ai_minus_control(endpoint["figure"], results)
    except NotAnalysed as exc:
        return _not_analysed(role, endpoint, str(exc))
    return _judged(role, endpoint, difference, level)


def _judged(role: str, endpoint: dict, difference: Difference, level: float) -> dict:
    """The decision at one-sided ``level``: success when the lower bound exceeds δ0."""
    null_value = -endpoint["margin"] if endpoint["hypothesis"] == "non_inferiority" else 0.0
    half_width = _quantile(1 - level, difference.df) * difference.se
    ci = [difference.estimate - half_width, difference.estimate + half_width]
    success = ci[0] > null_value
    p = float(_distribution(difference.df).sf((difference.estimate - null_value) / difference.se))
    label = FIGURE_LABELS[endpoint["figure"]]
    hypothesis = HYPOTHESIS_LABELS[endpoint["hypothesis"]]
    margin = f" (margin {endpoint['margin']:g})" if endpoint["hypothesis"] == "non_inferiority" else ""
    statement = (
        f"{difference.comparison} {label} difference {difference.estimate:.3f}, {100 * (1 - 2 * level):g}% CI "
        f"[{ci[0]:.3f}, {ci[1]:.3f}]; {hypothesis}{margin}: {'success' if success else 'failure'}, lower bound "
        f"{ci[0]:.3f} {'>' if success else '≤'} {null_value:g}"
    )
    return {
        **_entry(role, endpoint), "decision": "success" if success else "failure", "comparison": difference.comparison,
        "source": difference.source, "estimate": difference.estimate, "se": difference.se, "df": difference.df,
        "ci": ci, "ci_level": 1 - 2 * level, "null_value": null_value, "p_one_sided": p, "statement": statement,
    }


def _holm(secondary: list[dict], results: dict, level: float, *, gate_open: bool) -> list[dict]:
    """Holm's step-down at one-sided ``level`` over all pre-specified secondary endpoints (those the
    run could not analyse count in m and are never rejected: the procedure stays conservative)."""
    if not gate_open:
        reason = "not tested: the primary endpoints did not all succeed (secondary endpoints are tested only after)"
        return [{**_entry("secondary", endpoint), "decision": "not tested", "reason": reason} for endpoint in secondary]
    analysed, decisions = [], {}
    for index, endpoint in enumerate(secondary):
        try:
            difference = ai_minus_control(endpoint["figure"], results)
        except NotAnalysed as exc:
            decisions[index] = _not_analysed("secondary", endpoint, str(exc))
            continue
        p = _judged("secondary", endpoint, difference, level)["p_one_sided"]
        analysed.append((p, index, difference))
    still_rejecting = True
    for step, (_, index, difference) in enumerate(sorted(analysed, key=lambda item: item[0])):
        step_level = level / (len(secondary) - step)
        decision = _judged("secondary", secondary[index], difference, step_level)
        still_rejecting = still_rejecting and decision["decision"] == "success"
        if not still_rejecting and decision["decision"] == "success":
            decision["decision"] = "failure"
            decision["statement"] += " at its own level, but an earlier Holm step failed"
        decisions[index] = {**decision, "holm_step": step + 1, "holm_alpha": step_level}
    return [decisions[index] for index in range(len(secondary))]


def _entry(role: str, endpoint: dict) -> dict:
    return {"role": role, "figure": endpoint["figure"], "label": FIGURE_LABELS[endpoint["figure"]],
            "hypothesis": endpoint["hypothesis"], "margin": endpoint.get("margin")}


def _not_analysed(role: str, endpoint: dict, reason: str) -> dict:
    return {**_entry(role, endpoint), "decision": "not analysed", "reason": reason}


def _distribution(df: float | None):
    return stats.norm if df is None else stats.t(df)


def _quantile(probability: float, df: float | None) -> float:
    return float(_distribution(df).ppf(probability))


def ai_minus_control(figure: str, results: dict) -> Difference:
    """The RRRC difference of ``figure``, AI arm minus control arm, as the run computed it."""
    test, control = _compared_arms(results["study"]["arms"])
    if figure in FROC_FIGURES:
        froc = results.get("froc") or {}
        if not froc.get("available"):
            raise NotAnalysed(froc.get("reason") or "this run has no FROC (localization) analysis")
        figure_result = froc["figures"][figure]
        return _oriented(figure_result["rrrc"], test, control, f"FROC analysis ({figure_result['fom_label']})")
    primary = results["primary"]
    if primary.get("method") == "ustat":
        raise NotAnalysed("decisions use the OR analysis (RRRC); this run used iMRMC's U-statistic method")
    if primary["fom"] == RUN_FOM[figure]:
        return _oriented(primary["rrrc"], test, control, f"primary analysis ({primary['fom_label']})")
    if figure in ("sensitivity", "specificity"):
        return _operating_point(RUN_FOM[figure], results.get("operating_points") or {}, test, control)
    raise NotAnalysed(f"the run's figure of merit is {primary['fom']}; a run with fom={RUN_FOM[figure]} analyses it")


def _operating_point(kind: str, section: dict, test: dict, control: dict) -> Difference:
    if not section.get("available"):
        raise NotAnalysed(section.get("reason") or section.get("error") or "no operating-point analysis")
    sources = section["sources"]
    source = "reader's decision" if "reader's decision" in sources else next(iter(sources))
    return _oriented(sources[source][kind]["rrrc"], test, control, f"operating point ({source})")


def difference_convention(arms: list[dict]) -> dict:
    """The ``arm_order`` key of a results document: the arms in the order analysed and what "first minus
    second" means there (results stored before this key listed the control arm first)."""
    return {"arms": [arm["name"] for arm in arms], "difference": "AI minus control (arms that show the AI first)"}


def _compared_arms(arms: list[dict]) -> tuple[dict, dict]:
    """The first AI arm and the first control arm in analysis order (``rules.analysis_arm_order``), whichever
    order the run listed them in (runs made before that order put AI arms first list the control first)."""
    ordered = analysis_arm_order(arms, shows_ai=itemgetter("shows_ai"))
    control = next((arm for arm in ordered if not arm["shows_ai"]), None)
    if control is None or not ordered[0]["shows_ai"]:
        raise NotAnalysed("the study needs an arm that shows the AI and one that does not")
    return ordered[0], control


def _oriented(generalization: dict | None, test: dict, control: dict, source: str) -> Difference:
    for entry in (generalization or {}).get("differences", []):
        if set(entry["treatments"]) == {test["name"], control["name"]} and entry["se"]:
            sign = 1 if entry["treatments"][0] == test["name"] else -1
            return Difference(f"{test['label']} − {control['label']}", sign * entry["estimate"], entry["se"],
                              entry["df"], source)
    raise NotAnalysed(f"no RRRC difference of {test['name']} and {control['name']} in the results")
