import os

from studies.management.base import StudyCommand, read_bytes
from studies.services.imports import import_ai_outputs


class Command(StudyCommand):
    help = "Import precomputed AI outputs (JSON or CSV) for the study's cases."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")

    def run(self, *, actor, study, file, **options):
        result = import_ai_outputs(actor=actor, study=study, data=read_bytes(file), filename=os.path.basename(file))
        self.stdout.write(f"{result['stored']} AI outputs stored (sha256 {result['checksum']})")
