from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studies.services.audit_verify import verify


class Command(BaseCommand):
    help = ("Check the audit trail: every link of its hash chain, its anchors (AUDIT_ANCHOR_FILE), and every "
            "read and case truth against its last audit event. Exit status 1 when anything is wrong.")

    def add_arguments(self, parser):
        parser.add_argument("--anchor-file", help="anchor file to check against (default: AUDIT_ANCHOR_FILE)")

    def handle(self, *args, anchor_file=None, **options):
        try:
            result = verify(anchor_file=anchor_file or settings.AUDIT_ANCHOR_FILE)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if result.intact:
            self.stdout.write(result.summary())
            return
        for problem in result.problems:
            self.stderr.write(problem)
        raise CommandError(f"audit trail NOT intact: {len(result.problems)} problem(s) in {result.events} events")
