"""A study's pre-specified endpoints: what they may be, and each one's decision against its rule.

The protocol fixes, before the schedule exists, a primary endpoint (a figure of merit and a
hypothesis about the AI arm minus the control arm: superiority, or non-inferiority with a margin),
α and sidedness, co-primary endpoints that must all succeed with the primary (an
intersection-union test: each at the full α, no split), and secondary endpoints tested with
Holm's step-down procedure once the primary family has succeeded (hierarchical gatekeeping).

Every test is one-sided about the AI − control difference δ: H0 δ ≤ δ0 (δ0 = 0 for superiority,
−margin for non-inferiority), rejected when the lower confidence bound exceeds δ0. A two-sided α
uses the two-sided (1 − α) interval, i.e. each one-sided test at α/2; a one-sided α uses the
one-sided (1 − α) bound, i.e. the two-sided (1 − 2α) interval.

References
----------
Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6:65-70.
FDA (2022). Multiple endpoints in clinical trials: guidance for industry (co-primary endpoints,
hierarchical testing of secondary endpoints).
Chen W, Petrick NA, Sahiner B (2012). Hypothesis testing in noninferiority and equivalence MRMC
ROC studies. Acad Radiol 19:1158-1165.
"""

import math

from studies.errors import InvalidInput

FIGURES = ("auc", "pauc", "sensitivity", "specificity", "wafroc", "afroc", "hrauc")
HYPOTHESES = ("superiority", "non_inferiority")
SIDEDNESS = ("two", "one")
PLAN_KEYS = {"primary", "alpha", "sided", "co_primary", "co_primary_rule", "secondary", "secondary_rule"}
ENDPOINT_KEYS = {"figure", "hypothesis", "margin"}
CO_PRIMARY_RULES = ("all",)  # every co-primary endpoint must succeed
SECONDARY_RULES = ("holm",)
DEFAULT_ALPHA, DEFAULT_SIDED = 0.05, "two"


def validate_endpoints(endpoints) -> None:
    """Refuse an endpoint plan that is not well formed, naming the field (``endpoints.primary.margin``).
    An empty mapping means none was pre-specified."""
    if not isinstance(endpoints, dict):
        raise InvalidInput("must be a mapping", field="endpoints")
    if not endpoints:
        return
    _check_keys(endpoints, PLAN_KEYS, "endpoints")
    if "primary" not in endpoints:
        raise InvalidInput("is required when endpoints are given", field="endpoints.primary")
    alpha = endpoints.get("alpha", DEFAULT_ALPHA)
    if not _is_number(alpha) or not 0 < alpha < 0.5:
        raise InvalidInput("must be a number between 0 and 0.5", field="endpoints.alpha")
    _check_choice(endpoints.get("sided", DEFAULT_SIDED), SIDEDNESS, "endpoints.sided")
    _check_choice(endpoints.get("co_primary_rule", "all"), CO_PRIMARY_RULES, "endpoints.co_primary_rule")
    _check_choice(endpoints.get("secondary_rule", "holm"), SECONDARY_RULES, "endpoints.secondary_rule")
    named = [("endpoints.primary", endpoints["primary"])]
    for family in ("co_primary", "secondary"):
        items = endpoints.get(family, [])
        if not isinstance(items, list):
            raise InvalidInput("must be a list of endpoints", field=f"endpoints.{family}")
        named += [(f"endpoints.{family}[{i}]", item) for i, item in enumerate(items)]
    figures = set()
    for where, endpoint in named:
        _check_endpoint(endpoint, where)
        if endpoint["figure"] in figures:
            raise InvalidInput(f"{endpoint['figure']} is already an endpoint", field=f"{where}.figure")
        figures.add(endpoint["figure"])


def _check_endpoint(endpoint, where: str) -> None:
    if not isinstance(endpoint, dict):
        raise InvalidInput("must be a mapping with figure and hypothesis", field=where)
    _check_keys(endpoint, ENDPOINT_KEYS, where)
    for key in ("figure", "hypothesis"):
        if key not in endpoint:
            raise InvalidInput("is required", field=f"{where}.{key}")
    _check_choice(endpoint["figure"], FIGURES, f"{where}.figure")
    _check_choice(endpoint["hypothesis"], HYPOTHESES, f"{where}.hypothesis")
    margin = endpoint.get("margin")
    if endpoint["hypothesis"] == "non_inferiority":
        if not _is_number(margin) or not 0 < margin < 1:
            raise InvalidInput("a non-inferiority margin is a number above 0 and below 1", field=f"{where}.margin")
    elif margin is not None:
        raise InvalidInput("only a non-inferiority hypothesis has a margin", field=f"{where}.margin")


def _check_keys(mapping: dict, allowed: set[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise InvalidInput(f"unknown field (allowed: {', '.join(sorted(allowed))})", field=f"{where}.{key}")


def _check_choice(value, choices, field: str) -> None:
    if value not in choices:
        raise InvalidInput(f"{value!r} is not one of {', '.join(choices)}", field=field)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def endpoint_plan(endpoints: dict) -> dict:
    """A valid plan with its defaults filled in (α, sidedness, empty families, the rules)."""
    return {
        "primary": endpoints["primary"],
        "alpha": endpoints.get("alpha", DEFAULT_ALPHA),
        "sided": endpoints.get("sided", DEFAULT_SIDED),
        "co_primary": endpoints.get("co_primary", []),
        "co_primary_rule": endpoints.get("co_primary_rule", "all"),
        "secondary": endpoints.get("secondary", []),
        "secondary_rule": endpoints.get("secondary_rule", "holm"),
    }


def one_sided_alpha(plan: dict) -> float:
    """The level of each one-sided test: α/2 for a two-sided α, α for a one-sided one."""
    return plan["alpha"] / 2 if plan["sided"] == "two" else plan["alpha"]
