import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from studies.models import Assignment, Study
from studies.services.demo import DEMO_TITLE


def run(*args, **kwargs) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_seed_demo_builds_a_readable_study_and_is_rerunnable(db):
    output = run("seed_demo")
    study = Study.objects.get(title=DEMO_TITLE)
    assert study.status == "reading"
    assert study.readers.count() >= 3 and study.arms.count() == 2 and study.cases.count() >= 20
    assert study.cases.filter(ai_outputs__isnull=False).count() == study.cases.count()
    assert "reader1-demo" in output
    run("seed_demo")
    assert Study.objects.filter(title=DEMO_TITLE).count() == 1
    # the first session mixes both arms in blocks, so the demo shows aided and unaided reading at once
    first = Assignment.objects.filter(session__study=study, session__number=1, reader__code="R01")
    assert set(first.values_list("arm__name", flat=True)) == {"unaided", "aided"}


def test_command_pipeline_from_files(db, tmp_path, make_user):
    make_user("coordinator", "coordinator")
    make_user("admin_person", "admin", is_superuser=True)
    protocol = tmp_path / "p.yaml"
    protocol.write_text("title: CLI study\nwashout_days: 0\narms:\n  - {name: A}\n  - {name: B, shows_ai: true}\n"
                        "readers:\n  - {username: x1}\n  - {username: x2}\n")
    assert "created study" in run("create_study", str(protocol), user="coordinator")
    study = Study.objects.get(title="CLI study")
    truth = tmp_path / "truth.csv"
    truth.write_text("case,truth\n" + "".join(f"c{i},{i % 2}\n" for i in range(4)))
    assert "4 cases created" in run("import_truth", str(truth), study=study.pk, user="coordinator")
    ai = tmp_path / "ai.json"
    ai.write_text(json.dumps({"model": {"name": "m", "version": "1"},
                              "outputs": [{"case": f"c{i}", "score": i} for i in range(4)]}))
    assert "4 AI outputs stored" in run("import_ai_outputs", str(ai), study=study.pk, user="coordinator")
    from studies.services.studies import transition_study

    transition_study(actor=study.created_by, study=study, to="enrolling")
    schedule_file = tmp_path / "schedule.csv"
    assert "with seed 8" in run("generate_schedule", study=study.pk, seed=8, csv=str(schedule_file))
    assert len(list(csv.DictReader(schedule_file.open()))) == 2 * 4 * 2
    header = run("export_reads", study=study.pk, user="coordinator").splitlines()[0]
    assert header.startswith("reader,treatment,case,truth,rating")


def test_commands_refuse_unknown_study_and_user(db, make_user):
    make_user("root", "admin", is_superuser=True)
    with pytest.raises(CommandError, match="no study 999"):
        run("export_reads", study=999)
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("export_reads", study=1, user="nobody")


def test_exported_reads_are_analyzed_by_the_statistics_cli(make_study, tmp_path):
    """export_reads writes exactly what `python -m mrmc.stats analyze` reads."""
    import subprocess
    import sys
    import uuid

    from studies.models import ReadingSession
    from studies.services import reads

    study = make_study(n_readers=3, n_cases=10, washout_days=0)
    for session in ReadingSession.objects.filter(study=study).order_by("number"):
        for assignment in session.assignments.select_related("case", "arm"):
            # diseased cases rated higher, more so with AI, with reader-specific noise
            rating = 20 + 15 * assignment.case.truth + 5 * assignment.arm.shows_ai * assignment.case.truth
            rating += (assignment.order * 37 + session.reader.pk * 13 + assignment.case.pk * 7) % 45
            reads.submit_read(user=session.reader.user, assignment_id=assignment.pk, idempotency_key=uuid.uuid4(),
                              values=reads.ReadInput(rating=min(rating, 100)))
    out = tmp_path / "reads.csv"
    call_command("export_reads", study=study.pk, user="coord", output=str(out))
    result = subprocess.run([sys.executable, "-m", "mrmc.stats", "analyze", str(out), "--json"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    analysis = json.loads(result.stdout)
    assert set(analysis["treatments"]) == {"unaided", "aided"}
    assert analysis["readers"] == ["R01", "R02", "R03"]
    assert (analysis["n_normal"], analysis["n_abnormal"]) == (5, 5)
