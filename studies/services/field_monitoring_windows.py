"""A deployment's monitoring computed incrementally: the windows whose records changed since the last computation
(imports mark them), each for every record and per site, device and model version; the performance charts
advanced from their stored statistics over the outcomes confirmed since; and the alarms they raise.

- Performance per window: AUC (DeLong), sensitivity, specificity, PPV with their intervals, over the records whose
  outcome is known (:class:`mrmc.stats.monitoring.PerformanceAccumulator`).
- Drift per window, for every record and per site, against the deployment's first ``reference_windows`` windows
  of the same group, from what arrives before any outcome: the AI score and numeric attributes by PSI and the
  two-sample KS test, the categorical fields (software version, ...) by PSI and the chi-square test. An attribute
  is flagged when its PSI reaches ``drift.psi`` *and* its test's p-value is below ``drift.p``: a shift large enough
  to matter that chance does not explain. When a reference window changes, every window is computed again.
- CUSUM on the miss rate among confirmed positives (a miss: a score below the operating point), overall and per
  site (``cusum.by_site``), over outcomes in the order of their confirmation (``outcome_at``, then arrival), the
  chart designed for the rules' in-control ARL (:func:`mrmc.stats.monitoring.design_bernoulli_cusum`).

Alarms: a chart crossing h, or a window's drift flag. Each is recorded once: while one of a group's alarms of a
rule is not acknowledged, that rule raises no other for the group (the chart restarts after each crossing).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mrmc.stats.monitoring import (
    BernoulliCusum,
    CusumState,
    PerformanceAccumulator,
    categorical_drift,
    continuous_drift,
    design_bernoulli_cusum,
)
from studies.models import MonitoredDeployment, MonitoringAlarm, MonitoringWindow

from . import audit
from .field_monitoring import CATEGORICAL_FIELDS, send_alarm_emails, validate_rules, window_end, window_start

MIN_DRIFT_RECORDS = 20  # fewer records in a window (or its reference) say too little about a distribution
RECORD_VALUES = ("id", "case_key", "site", "manufacturer", "device_model", "software_version", "model_version",
                 "score", "attributes", "acquired_at", "outcome", "outcome_at")


def groups_of(record: dict) -> list[str]:
    """The groups a record counts in: every record (""), its site, its acquisition device and its model version."""
    device = f"{record['manufacturer']} {record['device_model']}".strip() or "unknown"
    return ["", f"site={record['site']}"[:200], f"device={device}"[:200], f"model_version={record['model_version']}"]


@lru_cache(maxsize=64)
def chart_for(in_control_arl: float, baseline: float, shifted: float) -> BernoulliCusum:
    return design_bernoulli_cusum(baseline, shifted, in_control_arl=in_control_arl)


def chart_of(rules: dict) -> BernoulliCusum:
    cusum = rules["cusum"]
    return chart_for(cusum["in_control_arl"], cusum["baseline_miss_rate"], cusum["shifted_miss_rate"])


@dataclass(frozen=True)
class ComputeResult:
    windows: int  # window starts computed
    outcomes: int  # confirmed positives the charts took
    alarms: int
    emailed: int


def pending_deployments():
    """Deployments with records not yet computed."""
    return MonitoredDeployment.objects.exclude(state__dirty=[]).exclude(state__dirty=None).filter(
        state__has_key="dirty")


def compute(*, deployment_id: int, actor=None) -> ComputeResult:
    """Bring a deployment's windows, charts and alarms up to date with its records, then e-mail new alarms.

    Asked by a user (``actor``), the computation is an audit event of theirs; Celery beat's are not recorded but
    for the alarms they raise."""
    with transaction.atomic():
        deployment = MonitoredDeployment.objects.select_for_update().get(pk=deployment_id)
        rules = validate_rules(deployment.rules)
        state = dict(deployment.state)
        starts = _starts_to_compute(deployment, rules, state)
        reference = _reference(deployment, state)
        reference_end = parse_datetime(state["reference_end"]) if starts else None
        alarms = 0
        for start in starts:
            alarms += _compute_window(deployment, rules, start, reference, reference_end)
        outcomes, chart_alarms = _advance_charts(deployment, rules, state)
        state["dirty"] = []
        deployment.state = state
        MonitoredDeployment.objects.filter(pk=deployment.pk).update(state=state)  # bookkeeping, not an edit
        if actor is not None:
            audit.record(action="field_monitoring_computed", entity="studies.MonitoredDeployment",
                         entity_id=deployment.pk, actor=actor,
                         after={"windows": len(starts), "outcomes": outcomes, "alarms": alarms + chart_alarms})
    return ComputeResult(len(starts), outcomes, alarms + chart_alarms, send_alarm_emails(deployment))


def _starts_to_compute(deployment, rules, state) -> list[datetime]:
    length = rules["window"]
    first = deployment.records.order_by("acquired_at").values_list("acquired_at", flat=True).first()
    if first is None:
        return []
    reference_end = window_start(first, length)
    for _ in range(rules["drift"]["reference_windows"]):
        reference_end = window_end(reference_end, length)
    dirty = [parse_datetime(start) or first for start in state.get("dirty", [])]  # "recompute": from the first
    previous_end = state.get("reference_end")
    state["reference_start"] = window_start(first, length).isoformat()
    state["reference_end"] = reference_end.isoformat()
    if previous_end != state["reference_end"] or any(start < reference_end for start in dirty):
        moments = deployment.records.values_list("acquired_at", flat=True)
        return sorted({window_start(moment, length) for moment in moments})
    return sorted(set(dirty))


def _reference(deployment, state) -> dict[str, list[dict]]:
    """The reference records per drift group (every record, each site)."""
    if "reference_end" not in state:
        return {}
    records = deployment.records.filter(acquired_at__lt=parse_datetime(state["reference_end"])).values(*RECORD_VALUES)
    by_group = defaultdict(list)
    for record in records:
        for group in groups_of(record)[:2]:
            by_group[group].append(record)
    return by_group


def _compute_window(deployment, rules, start: datetime, reference: dict, reference_end: datetime) -> int:
    """Store the window's figures for each group; its drift is measured only once it is past the reference."""
    end = window_end(start, rules["window"])
    records = deployment.records.filter(acquired_at__gte=start, acquired_at__lt=end).values(*RECORD_VALUES)
    by_group = defaultdict(list)
    for record in records:
        for group in groups_of(record):
            by_group[group].append(record)
    alarms = 0
    for group, members in by_group.items():
        drift = {}
        is_drift_group = group == "" or group.startswith("site=")
        if is_drift_group and reference.get(group) and start >= reference_end:
            drift = window_drift(reference[group], members, rules["drift"])
        window, _ = MonitoringWindow.objects.update_or_create(
            deployment=deployment, start=start, group=group,
            defaults={"end": end, "n_records": len(members),
                      "n_outcomes": sum(record["outcome"] is not None for record in members),
                      "metrics": window_metrics(members, rules["operating_point"]), "drift": drift})
        alarms += _drift_alarms(deployment, window, drift)
    return alarms


def window_metrics(records: list[dict], operating_point: float) -> dict:
    """AUC, sensitivity, specificity and PPV with 95% intervals over the records with a confirmed outcome."""
    confirmed = [record for record in records if record["outcome"] is not None]
    summary = PerformanceAccumulator(operating_point).add(
        [record["score"] for record in confirmed], [record["outcome"] == 1 for record in confirmed]).summary()
    result = {"n_positive": summary.n_positive, "n_negative": summary.n_negative, "auc": None}
    if summary.auc is not None:
        result["auc"] = {"estimate": summary.auc.auc, "ci": list(summary.auc.ci)}
    for name in ("sensitivity", "specificity", "ppv"):
        part = getattr(summary, name)
        result[name] = (None if part.n == 0 else
                        {"estimate": part.estimate, "ci": list(part.ci), "successes": part.successes, "n": part.n})
    return result


def window_drift(reference: list[dict], window: list[dict], thresholds: dict) -> dict:
    """Each drift attribute of the window against the reference: PSI, test, p-value and whether flagged."""
    if min(len(reference), len(window)) < MIN_DRIFT_RECORDS:
        return {}
    result = {}
    for attribute in thresholds["attributes"]:
        before, after = _values(reference, attribute), _values(window, attribute)
        if min(len(before), len(after)) < MIN_DRIFT_RECORDS:
            continue
        if attribute not in CATEGORICAL_FIELDS:  # the score and the acquisition attributes are numbers
            test = continuous_drift(before, after)
            psi, statistic, p, name = test.stability.psi, test.ks_statistic, test.ks_p, "ks"
        else:
            test = categorical_drift(_counts(before), _counts(after))
            psi, statistic, p, name = test.stability.psi, test.chi2, test.p, "chi2"
        result[attribute] = {"psi": psi, "test": name, "statistic": statistic, "p": p,
                             "flagged": bool(psi >= thresholds["psi"] and p < thresholds["p"])}
    return result


def _values(records: list[dict], attribute: str) -> list:
    if attribute == "score":
        return [float(record["score"]) for record in records]
    if attribute in CATEGORICAL_FIELDS:
        return [record[attribute] for record in records]
    values = [record["attributes"].get(attribute) for record in records]
    return [float(value) for value in values if value is not None]


def _counts(values: list) -> dict[str, int]:
    counts = defaultdict(int)
    for value in values:
        counts[str(value)] += 1
    return dict(counts)


def _drift_alarms(deployment, window: MonitoringWindow, drift: dict) -> int:
    raised = 0
    for attribute, figures in drift.items():
        if not figures["flagged"]:
            continue
        rule = f"drift:{attribute}"
        if _open_alarm(deployment, rule, window.group).exists():
            continue
        MonitoringAlarm.objects.create(
            deployment=deployment, rule=rule, kind="drift", window=window, raised_at=min(window.end, timezone.now()),
            details={"group": window.group, "attribute": attribute, "window_start": window.start.isoformat(),
                     "psi": figures["psi"], "p": figures["p"], "test": figures["test"]})
        raised += 1
    return raised


def _open_alarm(deployment, rule: str, group: str):
    return deployment.alarms.filter(rule=rule, details__group=group, acknowledged_at__isnull=True)


def _advance_charts(deployment, rules, state) -> tuple[int, int]:
    """Feed the confirmed positives since the cursor to each chart, from its stored statistic."""
    cursor = state.get("cusum_cursor")
    positives = deployment.records.filter(outcome=1)
    if cursor:
        at = parse_datetime(cursor[0])
        positives = positives.filter(Q(outcome_at__gt=at) | Q(outcome_at=at, id__gt=cursor[1]))
    positives = list(positives.order_by("outcome_at", "id").values(*RECORD_VALUES))
    if not positives:
        return 0, 0
    chart = chart_of(rules)
    charts = dict(state.get("cusum", {}))
    groups = {"": positives}
    if rules["cusum"]["by_site"]:
        for record in positives:
            groups.setdefault(f"site={record['site']}"[:200], []).append(record)
    raised = 0
    for group, records in groups.items():
        before = CusumState.from_dict(charts[group]) if group in charts else CusumState()
        misses = np.array([record["score"] < rules["operating_point"] for record in records])
        path, alarmed = chart.path(before, misses)
        after = chart.update(before, misses)
        for index in map(int, np.nonzero(alarmed)[0]):
            raised += _chart_alarm(deployment, chart, group, records[index], before.n_observed + index + 1,
                                   int(path[index]))
        charts[group] = after.to_dict()
    last = positives[-1]
    state["cusum"] = charts
    state["cusum_cursor"] = [last["outcome_at"].isoformat(), last["id"]]
    return len(positives), raised


def _chart_alarm(deployment, chart: BernoulliCusum, group: str, record: dict, observation: int,
                 statistic: int) -> int:
    if _open_alarm(deployment, "cusum", group).exists():
        return 0
    MonitoringAlarm.objects.create(
        deployment=deployment, rule="cusum", kind="cusum", raised_at=record["outcome_at"],
        details={"group": group, "case_key": record["case_key"], "acquired_at": record["acquired_at"].isoformat(),
                 "observation": observation, "statistic": statistic, "threshold": chart.threshold, "up": chart.up,
                 "down": chart.down, "h": chart.h, "k": chart.k, "baseline_miss_rate": chart.p0,
                 "shifted_miss_rate": chart.p1})
    return 1


def chart_paths(deployment: MonitoredDeployment) -> dict[str, dict]:
    """Each chart's statistic after every confirmed positive so far (for plots), from the records."""
    rules = validate_rules(deployment.rules)
    chart = chart_of(rules)
    positives = list(deployment.records.filter(outcome=1).order_by("outcome_at", "id")
                     .values_list("site", "score", "outcome_at"))
    groups = {"": positives}
    if rules["cusum"]["by_site"]:
        for record in positives:
            groups.setdefault(f"site={record[0]}", []).append(record)
    paths = {}
    for group, records in groups.items():
        misses = np.array([score < rules["operating_point"] for _, score, _ in records])
        path, _ = chart.path(CusumState(), misses)
        paths[group] = {"at": [at for _, _, at in records], "statistic": path.tolist(),
                        "threshold": chart.threshold}
    return paths



def compute_pending() -> dict[int, ComputeResult]:
    """:func:`compute` every deployment with records not yet computed."""
    return {deployment_id: compute(deployment_id=deployment_id)
            for deployment_id in pending_deployments().values_list("pk", flat=True)}
