from django.core.management.base import BaseCommand

from studies.models import MonitoredDeployment
from studies.services.demo import seed_demo
from studies.services.demo_analysis import seed_analysis_demo
from studies.services.demo_field_monitoring import DEMO_DEPLOYMENT
from studies.services.demo_model_updates import seed_model_update_demo


class Command(BaseCommand):
    help = "Create demo users, a demo study ready to read and an analysed demo study (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=24)
        parser.add_argument("--analysis-cases", type=int, default=120, help="cases of the analysed demo study")

    def handle(self, *args, cases, analysis_cases, **options):
        study, credentials = seed_demo(n_cases=cases)
        self.stdout.write(f"Demo study {study.pk}: {study.title} [{study.status}]")
        run = seed_analysis_demo(n_cases=analysis_cases)
        self.stdout.write(f"Demo study {run.study_id}: {run.study.title} [{run.study.status}]")
        self.stdout.write(f"  analysis run {run.pk} [{run.status}]: /analysis/runs/{run.pk}/")
        evaluation = seed_model_update_demo(run)
        self.stdout.write(f"  locked evaluation {evaluation.pk} with {evaluation.looks.count()} model updates: "
                          f"/analysis/studies/{run.study_id}/evaluations/")
        deployment = MonitoredDeployment.objects.get(name=DEMO_DEPLOYMENT)
        self.stdout.write(f"Monitored deployment {deployment.pk}: {deployment.name}, {deployment.alarms.count()} "
                          f"alarms: /console/monitoring/{deployment.pk}/ (monitor1)")
        self.stdout.write("Demo accounts (username / password / role):")
        for username, password, role in credentials:
            self.stdout.write(f"  {username:<13} {password:<20} {role}")
