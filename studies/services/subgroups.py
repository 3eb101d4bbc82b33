"""The subgroups a study declares: case metadata variables (columns of the truth file beyond the known ones)
whose every value the analysis reports on its own, and that every case must have before the study enrolls
(:func:`studies.services.readiness.subgroups_item`).

Declared in the protocol file (``subgroups:``) or on the console's set-up page, both through
:func:`set_subgroups`: while the study is a draft or enrolling, so that they are fixed before any read exists.
"""

from django.db import transaction

from studies.errors import InvalidInput, RuleViolation
from studies.models import Study, User
from studies.permissions import Action, require
from studies.selectors import READS_CSV_COLUMNS, study_cases
from studies.services.imports import TRUTH_COLUMNS
from studies.services.studies import SETUP_STATUSES, status_rule


def subgroups_fixed_because(study: Study) -> str:
    """Why the declared subgroups can no longer change; empty while they can."""
    return "" if study.status in SETUP_STATUSES else status_rule("the declared subgroups", SETUP_STATUSES)


def validate_subgroups(names) -> None:
    """Refuse a list that is not of distinct case metadata names, naming the item (``subgroups[1]``)."""
    if not isinstance(names, list):
        raise InvalidInput("must be a list of case metadata column names", field="subgroups")
    for i, name in enumerate(names):
        where = f"subgroups[{i}]"
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("must be the name of a case metadata column", field=where)
        if name in TRUTH_COLUMNS or name in READS_CSV_COLUMNS:
            raise InvalidInput(f"'{name}' is a column of the truth file or the reads export, not case metadata",
                               field=where)
        if name in names[:i]:
            raise InvalidInput(f"'{name}' is listed twice", field=where)


@transaction.atomic
def set_subgroups(*, actor: User, study: Study, names: list[str]) -> Study:
    """Declare ``names`` (an empty list: none) as the study's subgroups."""
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    reason = subgroups_fixed_because(study)
    if reason:
        raise RuleViolation(reason, field="subgroups")
    validate_subgroups(names)
    study.subgroups = names
    study.save(update_fields=["subgroups", "updated_at"])
    return study


def metadata_names(study: Study) -> list[str]:
    """The metadata variables the study's cases have (training cases aside), sorted: what can be declared."""
    names = set()
    for metadata in study_cases(study).values_list("metadata", flat=True).iterator():
        names.update(metadata or {})
    return sorted(names)
