"""The demo: the analysed demo study's locked evaluation, with one update that passes and one that fails at
site-2 only."""

from studies.models import AuditEvent, Role
from studies.services.demo_analysis import seed_analysis_demo
from studies.services.demo_model_updates import seed_model_update_demo


def test_the_demo_shows_a_passing_and_a_failing_update(make_user):
    make_user("coordinator", Role.COORDINATOR)
    make_user("statistician", Role.STATISTICIAN)
    run = seed_analysis_demo()
    evaluation = seed_model_update_demo(run)
    looks = list(evaluation.looks.order_by("look"))
    assert [(look.model_version, look.passed) for look in looks] == [("2.2", True), ("2.3", False)]
    failed = [c for c in looks[1].result["criteria"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["subgroup_max_drop"] and "site site-2" in failed[0]["reason"]
    assert seed_model_update_demo(run).pk == evaluation.pk and evaluation.looks.count() == 2  # safe to run again
    assert AuditEvent.objects.filter(entity="studies.ModelUpdateEvaluation", study_id=run.study_id).count() == 2
