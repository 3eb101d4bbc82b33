from studies.management.base import StudyCommand
from studies.permissions import Action, require
from studies.selectors import reads_csv
from studies.services import audit


class Command(StudyCommand):
    help = ("Write the study's reads as a long CSV (reader,treatment,case,truth,rating,...); the reads of cases "
            "excluded from the analysis say why in excluded_reason.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def run(self, *, actor, study, output=None, **options):
        require(actor, Action.VIEW_READS, study)
        text = reads_csv(study, with_excluded=True)  # excluded cases too, with the reason (mrmc.stats skips them)
        audit.record_download(actor=actor, study_id=study.pk, filename=f"study-{study.pk}-reads.csv")
        if output:
            with open(output, "w", newline="") as handle:
                handle.write(text)
        else:
            self.stdout.write(text, ending="")
