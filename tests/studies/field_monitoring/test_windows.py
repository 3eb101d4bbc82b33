"""Windows, charts and alarms on a seeded year of field records (mrmc.stats.field_simulation): computed
incrementally they equal one computation over the same records; the CUSUM alarms after the planted change at
site-C within the delay its design predicts and never on the null year; the software-version drift is flagged
in the window of the update; each alarm is e-mailed once and acknowledged with an audit event."""

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
from django.core import mail
from scipy import stats

from studies.errors import RuleViolation
from studies.models import AuditEvent, MonitoredDeployment
from studies.services import field_monitoring, field_monitoring_windows
from studies.tasks import compute_field_monitoring
from tests.conftest import kept_for_scope

from .conftest import RULES, SCENARIO, simulated_rows

JULY = datetime(2026, 7, 1, tzinfo=UTC)


def _deployment(actor, name: str, rows: list[dict]) -> MonitoredDeployment:
    deployment = field_monitoring.create_deployment(actor=actor, name=name, device="Detector 1.0", rules=RULES)
    field_monitoring.import_records(actor=actor, deployment=deployment, rows=rows, source="simulation")
    field_monitoring_windows.compute(deployment_id=deployment.pk)
    return deployment


@pytest.fixture(scope="module")
def computed(django_db_setup, django_db_blocker):
    """The planted-change year and the null year of the same seed (and so about the same size), computed."""
    from tests.conftest import create_user

    def build():
        actor = create_user("quality0", "monitor")
        changed = _deployment(actor, "changed", simulated_rows(change_month=7))
        null = _deployment(actor, "null", simulated_rows(change_month=None))
        return changed.pk, null.pk

    yield from kept_for_scope(django_db_blocker, build)


def _alarms(deployment_id: int, rule: str):
    return MonitoredDeployment.objects.get(pk=deployment_id).alarms.filter(rule=rule).order_by("raised_at")


def test_the_chart_alarms_at_the_changed_site_within_its_predicted_delay(db, computed):
    changed, _ = computed
    alarms = list(_alarms(changed, "cusum"))
    site_c = [alarm for alarm in alarms if alarm.details["group"] == "site=site-C"]
    assert site_c, [alarm.details for alarm in alarms]
    assert all(alarm.details["group"] in ("site=site-C", "") for alarm in alarms)
    first = site_c[0]
    assert datetime.fromisoformat(first.details["acquired_at"]) >= JULY  # not before the change
    deployment = MonitoredDeployment.objects.get(pk=changed)
    positives_after_change = deployment.records.filter(site="site-C", outcome=1, acquired_at__gte=JULY,
                                                       acquired_at__lte=first.details["acquired_at"]).count()
    chart = field_monitoring_windows.chart_of(deployment.rules)
    # 99% of run lengths at the shifted miss rate 0.30 from a chart at 0 are at most this (Markov chain)
    assert positives_after_change <= chart.run_length_quantile(1 - SCENARIO.sensitivity_after, 0.99)


def test_the_null_year_raises_no_alarm(db, computed):
    _, null = computed
    deployment = MonitoredDeployment.objects.get(pk=null)
    assert deployment.records.count() > 5000
    assert list(deployment.alarms.values_list("rule", "details__group")) == []


def test_the_software_update_is_flagged_in_its_window(db, computed):
    changed, _ = computed
    alarms = list(_alarms(changed, "drift:software_version"))
    assert {alarm.details["group"] for alarm in alarms} == {"", "site=site-C"}
    assert {alarm.window.start for alarm in alarms} == {JULY}
    deployment = MonitoredDeployment.objects.get(pk=changed)
    flagged = deployment.windows.filter(drift__software_version__flagged=True)
    assert min(flagged.values_list("start", flat=True)) == JULY
    unflagged_before = deployment.windows.filter(start__lt=JULY, start__gt=datetime(2026, 1, 1, tzinfo=UTC),
                                                 group="site=site-C")
    assert [window.drift["software_version"]["flagged"] for window in unflagged_before] == [False] * 5


def test_window_figures_match_an_independent_computation(db, computed):
    changed, _ = computed
    deployment = MonitoredDeployment.objects.get(pk=changed)
    window = deployment.windows.get(start=datetime(2026, 9, 1, tzinfo=UTC), group="site=site-C")
    records = deployment.records.filter(site="site-C", acquired_at__gte=window.start, acquired_at__lt=window.end)
    scores = np.array(records.values_list("score", flat=True))
    truth = np.array(records.values_list("outcome", flat=True)) == 1
    called = scores >= RULES["operating_point"]
    metrics = window.metrics
    assert metrics["sensitivity"]["successes"] == int(np.sum(called & truth))
    assert metrics["sensitivity"]["n"] == int(truth.sum())
    assert metrics["specificity"]["successes"] == int(np.sum(~called & ~truth))
    assert metrics["ppv"]["n"] == int(called.sum())
    # AUC = Mann-Whitney U / (n1 n0)
    u = stats.mannwhitneyu(scores[truth], scores[~truth]).statistic
    assert metrics["auc"]["estimate"] == pytest.approx(u / (truth.sum() * (~truth).sum()))


def test_incremental_windows_equal_one_computation_over_the_same_records(monitor):
    rows = simulated_rows(change_month=7)
    first_half = [row for row in rows if row["acquired_at"] < "2026-07"]
    second_half = [row for row in rows if row["acquired_at"] >= "2026-07"]
    without = [{key: value for key, value in row.items() if key not in ("outcome", "outcome_at")} for row in rows]
    outcomes = [{"case_key": row["case_key"], "outcome": row["outcome"], "outcome_at": row["outcome_at"]}
                for row in rows]
    incremental = field_monitoring.create_deployment(actor=monitor, name="incremental", device="D", rules=RULES)
    batches = [without[:len(first_half)], outcomes[:len(first_half)], without[len(first_half):],
               outcomes[len(first_half):len(first_half) + 500], outcomes[len(first_half) + 500:]]
    computed_starts = []
    for batch in batches:
        field_monitoring.import_records(actor=monitor, deployment=incremental, rows=batch, source="batch")
        computed_starts.append(field_monitoring_windows.compute(deployment_id=incremental.pk).windows)
    # the first batch makes the reference (January): every window then; later, only the months the batch touched
    assert computed_starts[0] == 6
    assert computed_starts[2] == 6
    assert computed_starts[3] == len({row["acquired_at"][:7] for row in second_half[:500]})
    whole = field_monitoring.create_deployment(actor=monitor, name="whole", device="D", rules=RULES)
    field_monitoring.import_records(actor=monitor, deployment=whole, rows=first_half + second_half, source="all")
    field_monitoring_windows.compute(deployment_id=whole.pk)

    def windows(deployment):
        return [(w.start, w.group, w.n_records, w.n_outcomes, w.metrics, w.drift)
                for w in deployment.windows.order_by("start", "group")]

    incremental.refresh_from_db()
    whole.refresh_from_db()
    assert windows(incremental) == windows(whole)
    assert incremental.state["cusum"] == whole.state["cusum"]
    assert ({(a.rule, a.details["group"], a.details.get("case_key")) for a in incremental.alarms.all()}
            == {(a.rule, a.details["group"], a.details.get("case_key")) for a in whole.alarms.all()})


def test_each_alarm_is_emailed_once_and_acknowledged_with_an_audit_event(monitor, deployment):
    rows = simulated_rows(change_month=7)
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows[:3000], source="first")
    compute_field_monitoring.delay()  # the beat task, run in-process
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows[3000:], source="second")
    compute_field_monitoring.delay()
    compute_field_monitoring.delay()  # nothing new: nothing sent
    alarms = list(deployment.alarms.all())
    assert alarms
    assert sorted(message.subject for message in mail.outbox) == sorted(
        f"[{deployment.name}] monitoring alarm: {field_monitoring.alarm_summary(alarm)}" for alarm in alarms)
    assert {tuple(message.to) for message in mail.outbox} == {("quality@example.org",)}
    alarm = alarms[0]
    field_monitoring.acknowledge_alarm(actor=monitor, alarm=alarm, note="Site C's scanner software rolled back")
    event = AuditEvent.objects.filter(entity="studies.MonitoringAlarm", entity_id=str(alarm.pk),
                                      action="update").get()
    assert (event.actor_username, event.after["note"]) == ("quality1", "Site C's scanner software rolled back")
    with pytest.raises(RuleViolation):
        field_monitoring.acknowledge_alarm(actor=monitor, alarm=alarm, note="again")


def test_an_alarm_the_mail_server_refuses_is_sent_once_it_answers(monitor, deployment, settings):
    import socket

    with socket.socket() as probe:  # a port nothing listens on: the mail server is down
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=simulated_rows(change_month=7),
                                    source="all")
    result = field_monitoring_windows.compute(deployment_id=deployment.pk)
    alarms = deployment.alarms.count()
    assert alarms and result.emailed == 0
    assert deployment.alarms.filter(notified_at__isnull=True).count() == alarms

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert field_monitoring.send_alarm_emails(deployment) == alarms
    assert len(mail.outbox) == alarms
    assert field_monitoring.send_alarm_emails(deployment) == 0


def test_weekly_windows_after_a_change_of_rules_cover_every_record_from_mondays(monitor, deployment):
    rows = [row for row in simulated_rows() if row["acquired_at"] < "2026-03"]
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="feed")
    field_monitoring_windows.compute(deployment_id=deployment.pk)
    assert deployment.windows.filter(group="").count() == 2
    field_monitoring.update_deployment(actor=monitor, deployment=deployment,
                                       changes={"rules": {**RULES, "window": "week"}})
    assert not deployment.windows.exists()
    assert field_monitoring_windows.compute(deployment_id=deployment.pk).windows == 9  # 2026-01-01 is a Thursday
    weekly = deployment.windows.filter(group="").order_by("start")
    assert {window.start.weekday() for window in weekly} == {0}
    assert (weekly.first().start.date().isoformat(), weekly.last().start.date().isoformat()) == ("2025-12-29",
                                                                                                 "2026-02-23")
    assert sum(window.n_records for window in weekly) == len(rows)


def test_an_outcome_dated_before_the_charted_ones_is_refused(monitor, deployment):
    rows = [row for row in simulated_rows() if row["acquired_at"] < "2026-02"]
    field_monitoring.import_records(actor=monitor, deployment=deployment, rows=rows, source="feed")
    field_monitoring_windows.compute(deployment_id=deployment.pk)
    late = {**rows[0], "case_key": "LATE", "outcome": 1, "outcome_at": "2026-01-10T00:00:00Z"}
    with pytest.raises(field_monitoring.InvalidInput) as refused:
        field_monitoring.import_records(actor=monitor, deployment=deployment, rows=[late], source="feed")
    assert (refused.value.line, refused.value.field) == (1, "outcome_at")
    assert "order of their confirmation" in refused.value.message


def test_the_design_meets_the_asked_in_control_run_length(deployment):
    chart = field_monitoring_windows.chart_of(deployment.rules)
    one_lower = replace(chart, threshold=chart.threshold - 1)  # the smallest threshold that meets it
    assert chart.arl(0.10) >= 10000 > one_lower.arl(0.10)
