from django.core.management.base import CommandError

from studies.management.base import StudyCommand
from studies.reports.package import report_files
from studies.services.package import export_package


class Command(StudyCommand):
    help = ("Write the study's submission package: one zip with the protocol's versions, the analysis plan, the "
            "schedule, the reader roster, truth, AI outputs, the frozen reads, results and report, the audit trail, "
            "deviations, software versions and a SHA-256 manifest. The same data gives the same bytes.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("output", help="the zip file to write")
        parser.add_argument("--run", type=int, help="analysis run reported (default: the latest successful one)")

    def run(self, *, actor, study, output, run=None, **options):
        filename, content = export_package(actor=actor, study=study, run_id=run, report_files=report_files)
        try:
            with open(output, "wb") as handle:
                handle.write(content)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}") from None
        self.stdout.write(f"{output}: {filename}, {len(content)} bytes")
