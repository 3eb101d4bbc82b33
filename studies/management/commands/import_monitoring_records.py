from django.core.management.base import CommandError

from studies.management.base import StudyCommand, read_bytes
from studies.models import MonitoredDeployment
from studies.permissions import Action, can_on_deployment
from studies.services import field_monitoring


class Command(StudyCommand):
    help = ("Store a monitored deployment's field records from a CSV (case_key, site, manufacturer, device_model, "
            "software_version, model_version, score, positive, acquired_at, outcome, outcome_at, attr_<name>): "
            "new cases, and outcomes of cases sent before; all or none.")
    needs_study = False

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--deployment", type=int, required=True, help="deployment id")
        parser.add_argument("file")

    def run(self, *, actor, study, deployment, file, **options):
        found = MonitoredDeployment.objects.filter(pk=deployment).first()
        if found is None:
            raise CommandError(f"no deployment {deployment}")
        if not can_on_deployment(actor, Action.CHANGE_MONITORING, found):
            raise CommandError(f"{actor.username} may not send records to {found.name}: a member with the monitor "
                               "role, or an admin, may")
        rows = field_monitoring.parse_csv(read_bytes(file))
        result = field_monitoring.import_records(actor=actor, deployment=found, rows=rows, source=f"csv:{file}",
                                                 first_line=2)
        self.stdout.write(f"{result.created} created, {result.completed} outcomes added, {result.unchanged} unchanged;"
                          " the windows are computed by the next scheduled run")
