"""The load run's database side, run as a child process against the throwaway cluster:

    python -m tests.load.study seed --readers 50 --cases 30   # migrate, build the study; JSON out
    python -m tests.load.study export                         # assignments and stored reads; JSON out

The study is built through the services, as a coordinator would: two arms, the readers enrolled,
truth and AI outputs imported, a schedule generated and reading opened. ``washout_days`` is 0 so
that a reader's second session opens as soon as the first is finished.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def seed(n_readers: int, n_cases: int, password: str) -> dict:
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command

    from studies.models import Assignment, Role, Study, User
    from studies.services import audit, imports, schedule
    from studies.services import studies as services
    from tests.image_records import cases_taken_as_imaged

    call_command("migrate", verbosity=0)
    coordinator = User.objects.create(username="load-coordinator", role=Role.COORDINATOR)
    usernames = [f"load-reader{i + 1:03d}" for i in range(n_readers)]
    hashed = make_password(password)  # one hash for all: the run measures reading, not password hashing
    with audit.context(user=coordinator):
        study = services.create_study(actor=coordinator, title="Load study", washout_days=0)
        services.add_arm(actor=coordinator, study=study, name="unaided", shows_ai=False)
        services.add_arm(actor=coordinator, study=study, name="aided", shows_ai=True)
        for username in usernames:
            user = User.objects.create(username=username, role=Role.READER, password=hashed)
            services.enroll_reader(actor=coordinator, study=study, user=user)
        labels = [f"L{i:04d}" for i in range(n_cases)]
        truth = ["case,truth,study_instance_uid"] + [
            f"{label},{i % 2},2.25.{study.pk}.{i + 1}" for i, label in enumerate(labels)
        ]
        imports.import_truth(actor=coordinator, study=study, data="\n".join(truth).encode())
        ai = ["case,model_name,model_version,score"] + [f"{label},load-model,1,{(i % 10) / 10}"
                                                        for i, label in enumerate(labels)]
        imports.import_ai_outputs(actor=coordinator, study=study, data="\n".join(ai).encode(), filename="ai.csv")
        with cases_taken_as_imaged():  # the load run measures reading, not images
            services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
            schedule.generate_schedule(actor=coordinator, study=study, seed=20261204)
            services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    return {"study": study.pk, "readers": usernames,
            "assignments": Assignment.objects.filter(session__study=study).count()}


def export() -> dict:
    from studies.models import Assignment, Read

    assignments = Assignment.objects.values_list("id", "reader_id", "case_id", "arm_id")
    reads = Read.objects.values_list("id", "assignment_id", "reader_id", "case_id", "arm_id", "rating",
                                     "idempotency_key")
    return {
        "assignments": [dict(zip(("id", "reader", "case", "arm"), row, strict=True)) for row in assignments],
        "reads": [
            dict(zip(("id", "assignment", "reader", "case", "arm", "rating", "idempotency_key"),
                     (*row[:-1], str(row[-1])), strict=True))
            for row in reads
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed")
    seeding.add_argument("--readers", type=int, required=True)
    seeding.add_argument("--cases", type=int, required=True)
    seeding.add_argument("--password", required=True)
    commands.add_parser("export")
    args = parser.parse_args()

    import django

    django.setup()
    result = seed(args.readers, args.cases, args.password) if args.command == "seed" else export()
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
