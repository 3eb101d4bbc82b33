"""The monitoring pages of monitored deployments: the list of those a user may see, and each deployment's page with
its performance over time per group, drift signals per window, the CUSUM paths with h, and its alarms, which its
monitors acknowledge here. Who sees what: :func:`studies.permissions.visible_deployments`."""

import base64

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from studies.models import MonitoredDeployment, MonitoringAlarm
from studies.permissions import Action, can_on_deployment, has_action, visible_deployments
from studies.reports import monitoring_figures
from studies.services import field_monitoring, field_monitoring_windows

from .forms import ConsoleForm
from .setup import posted

DIMENSIONS = {"all": "All records", "site": "By site", "device": "By acquisition device",
              "model_version": "By model version"}
WINDOW_ROWS = 36


class AcknowledgeForm(ConsoleForm):
    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                           help_text="What was looked into and what was done")


def _deployment(request, deployment_id: int, action: Action) -> MonitoredDeployment:
    """The deployment if the user may ``action`` on it: 403 for roles that never see monitoring, 404 when not
    theirs."""
    if not has_action(request.user, Action.VIEW_MONITORING):
        raise PermissionDenied(f"{request.user.username} may not see field monitoring")
    deployment = get_object_or_404(visible_deployments(request.user), pk=deployment_id)
    if not can_on_deployment(request.user, action, deployment):
        raise PermissionDenied(f"{request.user.username} may not change the monitoring of {deployment.name}")
    return deployment


@login_required
@require_GET
def deployments_page(request):
    if not has_action(request.user, Action.VIEW_MONITORING):
        raise PermissionDenied(f"{request.user.username} may not see field monitoring")
    deployments = visible_deployments(request.user).order_by("name")
    rows = [(deployment, deployment.records.count(), deployment.alarms.filter(acknowledged_at__isnull=True).count())
            for deployment in deployments]
    return render(request, "console/field_monitoring_list.html", {"rows": rows})


@login_required
@require_GET
def deployment_page(request, deployment_id: int):
    deployment = _deployment(request, deployment_id, Action.VIEW_MONITORING)
    return _page(request, deployment, dimension=request.GET.get("by", "site"))


def _page(request, deployment, *, dimension: str, acknowledging=None, status: int = 200):
    dimension = dimension if dimension in DIMENSIONS else "site"
    rules = field_monitoring.validate_rules(deployment.rules)
    windows = list(deployment.windows.order_by("start"))
    performance = _by_group(windows, lambda group: group == "" if dimension == "all"
                            else group.startswith(f"{dimension}="))
    drift = _by_group(windows, lambda group: group == "" or group.startswith("site="))
    alarms = list(deployment.alarms.select_related("acknowledged_by", "window").order_by("-raised_at", "-id"))
    chart = field_monitoring_windows.chart_of(rules)
    paths = field_monitoring_windows.chart_paths(deployment)
    figures = []
    if windows:
        figures = [
            ("Performance per window with 95% intervals, over the records with a confirmed outcome",
             monitoring_figures.performance_over_time(performance)),
            (f"Drift: PSI per window against the first {rules['drift']['reference_windows']} window(s); flagged at "
             f"PSI ≥ {rules['drift']['psi']} with p < {rules['drift']['p']}",
             monitoring_figures.drift_over_time(drift, rules["drift"]["attributes"], rules["drift"]["psi"])),
        ]
    if any(path["statistic"] for path in paths.values()):
        figures.append(("CUSUM paths with their threshold h",
                        monitoring_figures.cusum_paths(paths, [(alarm.details.get("group", ""), alarm.raised_at)
                                                               for alarm in alarms if alarm.kind == "cusum"])))
    context = {
        "deployment": deployment, "rules": rules,
        "chart": {"up": chart.up, "down": chart.down, "threshold": chart.threshold, "k": chart.k, "h": chart.h,
                  "in_control_arl": chart.arl(chart.p0), "shifted_arl": chart.arl(chart.p1)},
        "dimension": dimension, "dimensions": DIMENSIONS,
        "figures": [(caption, base64.b64encode(png).decode()) for caption, png in figures],
        "overall": [window for window in windows if window.group == ""][-WINDOW_ROWS:],
        "alarms": [(alarm, field_monitoring.alarm_summary(alarm)) for alarm in alarms],
        "can_acknowledge": can_on_deployment(request.user, Action.CHANGE_MONITORING, deployment),
        "acknowledging": acknowledging or (None, AcknowledgeForm()),
        "n_records": deployment.records.count(), "n_outcomes": deployment.records.filter(outcome__isnull=False).count(),
        "pending": bool(deployment.state.get("dirty")),
    }
    return render(request, "console/field_monitoring.html", context, status=status)


def _by_group(windows, keep) -> dict[str, list]:
    groups: dict[str, list] = {}
    for window in windows:
        if keep(window.group):
            groups.setdefault(window.group, []).append(window)
    return dict(sorted(groups.items()))


@login_required
@require_POST
def acknowledge(request, alarm_id: int):
    if not has_action(request.user, Action.VIEW_MONITORING):
        raise PermissionDenied(f"{request.user.username} may not see field monitoring")
    alarm = get_object_or_404(MonitoringAlarm.objects.filter(deployment__in=visible_deployments(request.user)),
                              pk=alarm_id)
    deployment = _deployment(request, alarm.deployment_id, Action.CHANGE_MONITORING)
    return posted(
        request, AcknowledgeForm(request.POST),
        lambda form: field_monitoring.acknowledge_alarm(actor=request.user, alarm=alarm,
                                                        note=form.cleaned_data["note"]),
        again=lambda form, status: _page(request, deployment, dimension="site", acknowledging=(alarm.pk, form),
                                         status=status),
        done=lambda saved: ("Alarm acknowledged.", reverse("console-field-monitoring-deployment",
                                                           args=[deployment.pk]) + "#alarms"))
