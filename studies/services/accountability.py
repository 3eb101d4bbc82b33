"""What became of every case of a study: exclusions, and the subject accountability table.

Exclusion: the coordinator takes a case out of the analysis with a reason (``Case.excluded_reason``). Every
analysis run made after it leaves the case's reads out (``selectors.reads_csv``), while the reads export keeps
them with the reason. Cases may be excluded, and taken back, until the study is locked; once reading has
started either is itself a protocol deviation (``case_excluded``, with the reason, for the coordinator's
review), since it is decided knowing how the case was read. Training cases are never analysed: there is
nothing to exclude them from.

The table counts, in the manner of a CONSORT or STARD flow diagram: the cases enrolled (every case but training
ones), those excluded with their reasons, per arm those read completely (every reader scheduled to read the case
in that arm did), partly or not at all, and those analysed, with why the others were not (excluded, no truth,
never read). An analysis run computes it from the per-case facts it froze (:func:`case_facts`); the console from
the study as it is now.
"""

import json
from collections import Counter

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from studies.errors import InvalidInput, NotFound, RuleViolation
from studies.models import Assignment, Case, ProtocolDeviation, Study, User
from studies.permissions import Action, require
from studies.selectors import study_cases
from studies.services.deviations import classify, deviation_log

EXCLUDABLE_STATUSES = (Study.Status.DRAFT, Study.Status.ENROLLING, Study.Status.READING)
REASON_MAX = Case._meta.get_field("excluded_reason").max_length
NOT_ANALYSED = ("excluded", "no_truth", "never_read")  # why a case is not analysed, checked in this order
READ_STATES = ("complete", "partial", "none")


@transaction.atomic
def exclude_case(*, actor: User, study: Study, case_label: str, reason: str) -> Case:
    """Take a case out of the analysis, saying why."""
    study, case = _lock(actor, study, case_label)
    reason = _reason(reason)
    if case.excluded_reason:
        raise RuleViolation(f"case {case.label} is excluded already ({case.excluded_reason})", field="case")
    case.excluded_reason, case.excluded_at = reason, timezone.now()
    case.save(update_fields=["excluded_reason", "excluded_at"])
    _deviation_once_reading(actor, study, case, f"Case {case.label} excluded from the analysis: {reason}")
    return case


@transaction.atomic
def include_case(*, actor: User, study: Study, case_label: str, reason: str) -> Case:
    """Take an excluded case back into the analysis, saying why."""
    study, case = _lock(actor, study, case_label)
    reason = _reason(reason)
    if not case.excluded_reason:
        raise RuleViolation(f"case {case.label} is not excluded", field="case")
    previous = case.excluded_reason
    case.excluded_reason, case.excluded_at = "", None
    case.save(update_fields=["excluded_reason", "excluded_at"])
    _deviation_once_reading(actor, study, case,
                            f"Exclusion of case {case.label} ({previous}) withdrawn, back in the analysis: {reason}")
    return case


def _lock(actor: User, study: Study, case_label: str) -> tuple[Study, Case]:
    require(actor, Action.CHANGE_STUDY, study)
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status not in EXCLUDABLE_STATUSES:
        raise RuleViolation(f"the study is {study.status}: its cases can no longer leave or join the analysis")
    case = study.cases.select_for_update().filter(label=case_label).first()
    if case is None:
        raise NotFound(f"no case {case_label!r} in this study")
    if case.is_training:
        raise RuleViolation(f"case {case.label} is a training case: it is never analysed", field="case")
    return study, case


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why (it is kept with the case and in the report)", field="reason")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"at most {REASON_MAX} characters", field="reason")
    return reason


def _deviation_once_reading(actor: User, study: Study, case: Case, description: str) -> None:
    if study.status != Study.Status.READING:
        return
    kind = ProtocolDeviation.Kind.CASE_EXCLUDED
    classification = classify(study.deviation_rules, kind)
    ProtocolDeviation.objects.create(
        study=study, kind=kind, severity=classification.severity, rule=classification.rule,
        source=ProtocolDeviation.Source.RECORDED, description=description, occurred_at=timezone.now(), case=case,
        details={"recorded_by": actor.username, "excluded_reason": case.excluded_reason})


def excluded_cases(study: Study):
    return study_cases(study).exclude(excluded_reason="").order_by("label")


def included_labels(study: Study) -> list[str]:
    """The labels of the cases that may be excluded: every study case not excluded already."""
    return list(study_cases(study).filter(excluded_reason="").order_by("label").values_list("label", flat=True))


# ------------------------------------------------------------------------------------------------ the table


def case_facts(study: Study) -> dict:
    """Per case what the table counts: whether its truth is known, why it is excluded, and per arm how many
    readers were scheduled to read it and how many did. JSON-ready: analysis runs freeze it."""
    arms = list(study.arms.order_by("order").values_list("name", flat=True))
    counts = (Assignment.objects.filter(session__study=study, case__is_training=False)
              .values("case_id", "arm__name").annotate(scheduled=Count("id"), read=Count("read")))
    by_case: dict[int, dict] = {}
    for row in counts:
        cell = by_case.setdefault(row["case_id"], {"scheduled": {}, "read": {}})
        cell["scheduled"][row["arm__name"]], cell["read"][row["arm__name"]] = row["scheduled"], row["read"]
    cases = study_cases(study).order_by("label").values_list("pk", "label", "truth", "excluded_reason")
    return {"arms": arms, "cases": [
        {"case": label, "truth_known": truth is not None, "excluded_reason": reason,
         "scheduled": by_case.get(pk, {}).get("scheduled", {}), "read": by_case.get(pk, {}).get("read", {})}
        for pk, label, truth, reason in cases]}


def table(facts: dict) -> dict:
    """The accountability counts of :func:`case_facts`."""
    cases, arms = facts["cases"], facts["arms"]
    per_arm = {arm: Counter(_read_state(case, arm) for case in cases) for arm in arms}
    not_analysed = Counter(_why_not_analysed(case) for case in cases)
    return {
        "enrolled": len(cases),
        "excluded": [{"case": case["case"], "reason": case["excluded_reason"]}
                     for case in cases if case["excluded_reason"]],
        "read_per_arm": [{"arm": arm, **{state: per_arm[arm][state] for state in READ_STATES}} for arm in arms],
        "not_analysed": {why: not_analysed[why] for why in NOT_ANALYSED},
        "analysed": not_analysed[None],
    }


def _read_state(case: dict, arm: str) -> str:
    scheduled, read = case["scheduled"].get(arm, 0), case["read"].get(arm, 0)
    if read == 0:
        return "none"
    return "complete" if read >= scheduled else "partial"


def _why_not_analysed(case: dict) -> str | None:
    """Why the case is left out of the analysis (the first of :data:`NOT_ANALYSED` that holds), or None."""
    if case["excluded_reason"]:
        return "excluded"
    if not case["truth_known"]:
        return "no_truth"
    if not any(case["read"].values()):
        return "never_read"
    return None


def accountability(study: Study) -> dict:
    """The table of the study as it is now (the console's)."""
    return table(case_facts(study))


def frozen(study: Study) -> dict:
    """What an analysis run freezes for its report: the cases' facts and the deviation log, as they are now."""
    return {**case_facts(study), "deviations": deviation_log(study)}


def accountability_section(context) -> dict:
    """The analysis results' part (``analysis_sections.SECTIONS``): the table and the deviation log the run froze."""
    text = context.run.marks_snapshot
    document = json.loads(text).get("accountability") if text else None
    if document is None:
        return {"available": False, "reason": "this run froze no accountability facts (it predates them)"}
    return {"available": True, "arms": document["arms"], "table": table(document),
            "deviations": document["deviations"]}
