from studies.management.base import StudyCommand
from studies.services.schedule import generate_schedule, schedule_csv


class Command(StudyCommand):
    help = "Generate the randomized, counterbalanced reading schedule (reproducible from --seed)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--csv", help="also write the schedule to this CSV file")

    def run(self, *, actor, study, seed=None, csv=None, **options):
        sessions = generate_schedule(actor=actor, study=study, seed=seed)
        study.refresh_from_db()
        self.stdout.write(f"{len(sessions)} sessions generated with seed {study.schedule_seed}")
        if csv:
            with open(csv, "w", newline="") as handle:
                handle.write(schedule_csv(study))
