"""The intended-use population a study's cases should represent (``Study.population``).

The protocol declares, per variable, the target proportion of each group, and the rule that flags a
group as under-represented; the analysis compares the analysed cases with it
(:mod:`studies.services.analysis_case_mix`). A variable comes from one of two sources:

- ``acquisition``: the coarse attributes read from the images before de-identification
  (:mod:`mrmc.dicom.characteristics`: ``sex``, ``age_band``, ``manufacturer``, ``model``,
  ``software_versions``, ``modality``, ``body_part``), kept in ``Case.acquisition`` when the DICOM
  study is linked to its case;
- ``metadata``: a column of the truth file (``site``, ``breast_density``, …), kept in ``Case.metadata``.

The document, as the protocol file's ``population:`` block and the API take it::

    {"variables": {"age_band": {"source": "acquisition", "targets": {"40-49": 0.2, "50-59": 0.3}},
                   "site": {"source": "metadata", "targets": {"site-1": 0.5, "site-2": 0.5}}},
     "rule": {"min_ratio": 0.5, "alpha": 0.05},
     "age_bands": [0, 18, 40, 50, 60, 70, 80]}

Targets are proportions in (0, 1] adding up to at most 1 per variable (groups not named have no
target). The rule (:func:`mrmc.stats.representation.representation`) flags a group whose observed
proportion is below ``min_ratio`` × its target, or whose Wilson (1927) ``1 - alpha`` interval lies
wholly below its target. ``age_bands`` are the lower bounds of the age bands that ingest records;
only the band is kept, so the bands cannot change once a case has one that they lack.

The population is set while the study is a draft or enrolling (before reading starts), audited as a
change of the study.
"""

from collections.abc import Callable

import numpy as np
from django.db import transaction

from mrmc.dicom.characteristics import ATTRIBUTES, DEFAULT_AGE_BANDS, SEXES, age_band_labels
from mrmc.stats.representation import NOT_RECORDED, representation
from studies.errors import InvalidInput, RuleViolation
from studies.models import Study, User
from studies.permissions import Action, require
from studies.selectors import READS_CSV_COLUMNS, study_cases
from studies.services.imports import TRUTH_COLUMNS
from studies.services.rule_fields import check_keys, is_number
from studies.services.studies import SETUP_STATUSES, status_rule

SOURCES = ("acquisition", "metadata")
POPULATION_KEYS = {"variables", "rule", "age_bands"}
VARIABLE_KEYS = {"source", "targets"}
RULE_DEFAULTS = {"min_ratio": 0.5, "alpha": 0.05}
TOTAL_TOLERANCE = 1e-6  # targets written with a few decimals may add up to 1.0000001


def population_fixed_because(study: Study) -> str:
    """Why the population can no longer change; empty while it can."""
    return "" if study.status in SETUP_STATUSES else status_rule("the intended-use population", SETUP_STATUSES)


def rule_of(population: dict) -> dict:
    """The under-representation rule, defaults filled in."""
    return {**RULE_DEFAULTS, **population.get("rule", {})}


def validate_population(population, study: Study) -> None:
    """Refuse a population document that breaks the format above, naming the field
    (``population.variables.age_band.targets.40-49``)."""
    if not isinstance(population, dict):
        raise InvalidInput("must be a mapping of variables, rule and age_bands", field="population")
    if not population:
        return
    check_keys(population, POPULATION_KEYS, "population")
    bounds = population.get("age_bands", list(DEFAULT_AGE_BANDS))
    try:
        bands = age_band_labels(bounds) if isinstance(bounds, list) else age_band_labels([])
    except ValueError as exc:
        raise InvalidInput(f"{exc} (a list of lower bounds)", field="population.age_bands") from None
    _check_bands_kept(study, bands)
    variables = population.get("variables")
    if not isinstance(variables, dict) or not variables:
        raise InvalidInput("must name at least one variable with its targets", field="population.variables")
    for name, variable in variables.items():
        _check_variable(name, variable, bands)
    _check_rule(population.get("rule", {}))


def _check_variable(name: str, variable, bands: list[str]) -> None:
    where = f"population.variables.{name}"
    if not isinstance(variable, dict):
        raise InvalidInput("must be a mapping with source and targets", field=where)
    check_keys(variable, VARIABLE_KEYS, where)
    source = variable.get("source")
    if source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", field=f"{where}.source")
    if source == "acquisition" and name not in ATTRIBUTES:
        raise InvalidInput(f"'{name}' is not read from the images (they give {', '.join(ATTRIBUTES)})", field=where)
    if source == "metadata" and (name in TRUTH_COLUMNS or name in READS_CSV_COLUMNS):
        raise InvalidInput(f"'{name}' is a column of the truth file or the reads export, not case metadata",
                           field=where)
    targets = variable.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise InvalidInput("must map each group to its target proportion", field=f"{where}.targets")
    allowed = bands if (source, name) == ("acquisition", "age_band") else (
        sorted(SEXES) if (source, name) == ("acquisition", "sex") else None)
    for group, target in targets.items():
        if allowed is not None and group not in allowed:
            raise InvalidInput(f"'{group}' is not one of {', '.join(allowed)}", field=f"{where}.targets.{group}")
        if not is_number(target) or not 0 < target <= 1:
            raise InvalidInput("must be a proportion above 0 and at most 1", field=f"{where}.targets.{group}")
    if sum(targets.values()) > 1 + TOTAL_TOLERANCE:
        raise InvalidInput(f"the targets add up to {sum(targets.values()):g}, more than 1", field=f"{where}.targets")


def _check_rule(rule) -> None:
    if not isinstance(rule, dict):
        raise InvalidInput("must be a mapping of min_ratio and alpha", field="population.rule")
    check_keys(rule, set(RULE_DEFAULTS), "population.rule")
    if "min_ratio" in rule and not (is_number(rule["min_ratio"]) and 0 < rule["min_ratio"] <= 1):
        raise InvalidInput("must be a number above 0 and at most 1", field="population.rule.min_ratio")
    if "alpha" in rule and not (is_number(rule["alpha"]) and 0 < rule["alpha"] < 0.5):
        raise InvalidInput("must be a number above 0 and below 0.5", field="population.rule.alpha")


def _check_bands_kept(study: Study, bands: list[str]) -> None:
    """Cases keep only their age band: bands that lack one a case has would leave it in no band."""
    for label, acquisition in study_cases(study).exclude(acquisition={}).values_list("label", "acquisition"):
        band = acquisition.get("age_band")
        if band and band not in bands:
            raise InvalidInput(f"case {label} has the age band {band} from its images, which these bands lack; "
                               "only the band is kept, so the bands can only change before images are linked",
                               field="population.age_bands")


@transaction.atomic
def set_population(*, actor: User, study: Study, population: dict) -> Study:
    """Make ``population`` the study's intended-use population (empty: none declared)."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    reason = population_fixed_because(study)
    if reason:
        raise RuleViolation(reason, field="population")
    validate_population(population, study)
    study.population = population
    study.save(update_fields=["population", "updated_at"])
    return study


def case_mix_table(population: dict, truth: np.ndarray, values_of: Callable[[str, str], list[str]]) -> list[dict]:
    """Per declared variable, each group's representation among the cases whose ``truth`` is given
    (:func:`mrmc.stats.representation.representation`); ``values_of(name, source)`` gives the variable's value
    per case, :data:`NOT_RECORDED` where a case lacks it."""
    rule = rule_of(population)
    return [
        {"name": name, "source": variable["source"], "groups": [
            {"group": g.group, "count": g.count, "n_diseased": g.count_diseased,
             "n_non_diseased": g.count_non_diseased, "proportion": g.proportion, "ci": list(g.ci),
             "target": g.target, "under_represented": g.under_represented, "reasons": list(g.reasons)}
            for g in representation(values_of(name, variable["source"]), truth, variable["targets"],
                                    min_ratio=rule["min_ratio"], alpha=rule["alpha"])]}
        for name, variable in population["variables"].items()
    ]


def current_case_mix(study: Study) -> dict:
    """The study's cases with truth now against its population (no variables where none is declared or no case
    has truth): what the coordinator checks while cases can still be added; a run freezes its own."""
    cases = list(study_cases(study).filter(truth__isnull=False).order_by("label")
                 .values_list("truth", "metadata", "acquisition"))
    truth = np.array([bool(truth) for truth, _, _ in cases], dtype=bool)

    def values_of(name: str, source: str) -> list[str]:
        column = 1 if source == "metadata" else 2
        return [str((case[column] or {}).get(name, NOT_RECORDED)) for case in cases]

    variables = case_mix_table(study.population, truth, values_of) if study.population and cases else []
    return {"n_cases": len(cases), "n_diseased": int(truth.sum()), "variables": variables}
