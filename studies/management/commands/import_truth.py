from studies.management.base import StudyCommand, read_bytes
from studies.services.imports import import_truth


class Command(StudyCommand):
    help = "Create or update cases from a CSV: case, truth, truth_method, ..., other columns = metadata."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("file")

    def run(self, *, actor, study, file, **options):
        result = import_truth(actor=actor, study=study, data=read_bytes(file))
        self.stdout.write(f"{result['created']} cases created, {result['updated']} updated")
