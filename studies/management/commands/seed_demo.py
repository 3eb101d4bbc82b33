from django.core.management.base import BaseCommand

from studies.services.demo import seed_demo


class Command(BaseCommand):
    help = "Create demo users and a demo study ready to read (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, default=24)

    def handle(self, *args, cases, **options):
        study, credentials = seed_demo(n_cases=cases)
        self.stdout.write(f"Demo study {study.pk}: {study.title} [{study.status}]")
        self.stdout.write("Demo accounts (username / password / role):")
        for username, password, role in credentials:
            self.stdout.write(f"  {username:<13} {password:<20} {role}")
