from studies.management.base import StudyCommand, read_bytes
from studies.services.protocol import create_study_from_protocol


class Command(StudyCommand):
    help = "Create a study (arms, design, scale, washout, members, readers) from a protocol YAML file."
    needs_study = False

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("protocol", help="protocol file, see docs/protocol.example.yaml")

    def run(self, *, actor, study, protocol, **options):
        text = read_bytes(protocol).decode("utf-8", errors="replace")
        study = create_study_from_protocol(actor=actor, text=text)
        self.stdout.write(f"created study {study.pk}: {study.title} ({study.arms.count()} arms, "
                          f"{study.readers.count()} readers)")
