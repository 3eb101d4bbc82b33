"""A run's automation-bias section and its report section, on the hand-counted sequential study of
tests/stats/automation_bias_study.py stored as reads, and on the analysed demo's builder."""

import base64
import re
import uuid

import pytest

from studies.models import AIOutput, Assignment, Read, Study
from studies.reports import render_html
from studies.services import imports, schedule
from studies.services import studies as study_services
from tests.stats.automation_bias_study import AI_SCORES, CASES, OPERATING_POINT, RATINGS, THRESHOLD, TRUTH


@pytest.fixture
def counted_study(make_study, coordinator, statistician):
    """The hand-counted study, read and locked: sequential, two readers, the AI positive at 0.5."""
    study = make_study(n_readers=2, n_cases=0, design=Study.Design.SEQUENTIAL, decision_threshold=THRESHOLD,
                       status=Study.Status.DRAFT)
    study_services.add_member(actor=coordinator, study=study, user=statistician)
    truth = ["case,truth"] + [f"{case},{int(t)}" for case, t in zip(CASES, TRUTH, strict=True)]
    imports.import_truth(actor=coordinator, study=study, data="\n".join(truth).encode())
    ai = ["case,model_name,model_version,score,operating_point"] + [
        f"{case},model,1,{score},{OPERATING_POINT}" for case, score in zip(CASES, AI_SCORES, strict=True)]
    imports.import_ai_outputs(actor=coordinator, study=study, data="\n".join(ai).encode(), filename="ai.csv")
    study_services.transition_study(actor=coordinator, study=study, to=Study.Status.ENROLLING)
    schedule.generate_schedule(actor=coordinator, study=study, seed=1)
    study = study_services.transition_study(actor=coordinator, study=study, to=Study.Status.READING)
    arms, readers = {"unaided": 0, "aided": 1}, {"R01": 0, "R02": 1}
    Read.objects.bulk_create([
        Read(assignment=a, reader_id=a.reader_id, case_id=a.case_id, arm_id=a.arm_id, idempotency_key=uuid.uuid4(),
             rating=RATINGS[arms[a.arm.name], readers[a.reader.code], CASES.index(a.case.label)])
        for a in Assignment.objects.filter(session__study=study).select_related("arm", "reader", "case")
    ])
    return study_services.transition_study(actor=coordinator, study=study, to=Study.Status.LOCKED)


def test_the_runs_section_holds_the_hand_counted_strata_and_readers(counted_study, statistician, run_analysis):
    assert Read.objects.filter(case__study=counted_study).count() == 2 * 2 * 10
    run = run_analysis(actor=statistician, study=counted_study)
    section = run.results["automation_bias"]
    assert section["available"] and section["sequential"], section
    assert section["call_source"] == "rating >= 50" and (section["unaided"], section["aided"]) == ("unaided", "aided")
    assert {k: section["ai_calls"][k] for k in ("true_positive", "true_negative", "false_negative",
                                                "false_positive")} == {"true_positive": 3, "true_negative": 3,
                                                                       "false_negative": 2, "false_positive": 2}
    right, wrong = section["strata"]
    assert (wrong["stratum"], wrong["n_cases"], wrong["harmed"], wrong["helped"]) == ("AI wrong", 4, 1, 1)
    effects = {r["reader"]: (r["correct_unaided"], r["correct_aided"], r["effect"]) for r in wrong["readers"]}
    assert effects == {"R01": (3, 1, "harmed"), "R02": (3, 4, "helped")}
    specificity = next(m for m in wrong["measures"] if m["measure"] == "specificity")
    assert (specificity["unaided"], specificity["aided"], specificity["difference"]) == pytest.approx((1, 0.75, -0.25))
    assert (wrong["shifts"]["toward_ai"], wrong["shifts"]["away_from_ai"], wrong["shifts"]["calls_to_ai"]) == (4, 1, 2)
    assert (right["stratum"], right["helped"], right["harmed"], right["shifts"]["toward_ai"]) == ("AI correct", 1, 1, 5)


def test_the_report_shows_the_strata_the_readers_and_the_plot(counted_study, statistician, run_analysis):
    run = run_analysis(actor=statistician, study=counted_study)
    html = render_html(run)
    assert "Automation bias: AI-correct and AI-wrong cases" in html
    assert "2 false negatives, 2 false positives" in html
    assert "1 of 2 readers made fewer correct calls with the AI (harmed), 1 more (helped)" in html
    assert "<td>R01</td><td>AI wrong</td><td>4</td><td>3 (0.750)</td><td>1 (0.250)</td>" in html.replace("\n", "")
    assert "Sequential reading: score changes toward or away from the AI" in html
    plot = re.search(r'<figure><img alt="Each reader&#x27;s accuracy \(share of correct calls\)[^"]*" '
                     r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert plot and base64.b64decode(plot.group(1)).startswith(b"\x89PNG")


def test_the_analysed_demo_has_ai_wrong_cases_in_its_report(read_study, statistician, run_analysis):
    study = read_study(n_cases=40)
    outputs = AIOutput.objects.filter(study=study).select_related("case")
    wrong = sum((o.score >= o.operating_point) != bool(o.case.truth) for o in outputs)
    run = run_analysis(actor=statistician, study=study)
    section = run.results["automation_bias"]
    assert section["available"] and not section["sequential"] and section["call_source"] == "reader's decision"
    assert wrong > 0 and section["strata"][1]["n_cases"] == wrong
    by_reader = {r["reader"] for r in section["strata"][1]["readers"]}
    assert len(by_reader) == 5 and "Automation bias" in render_html(run)


def test_without_an_operating_point_or_without_ai_the_section_says_why(make_study, coordinator, statistician,
                                                                        run_analysis):
    from studies.services.demo_analysis import simulate_reads

    for arms, reason in (((("unaided", False), ("aided", True)), "no operating point"),
                         ((("first", False), ("second", False)), "shows readers no AI output")):
        study = make_study(n_readers=3, n_cases=12, arms=arms)  # its AI outputs carry no operating point
        study_services.add_member(actor=coordinator, study=study, user=statistician)
        simulate_reads(study=study, seed=3)
        run = run_analysis(actor=statistician, study=study)
        section = run.results["automation_bias"]
        assert not section["available"] and reason in section["reason"]
        assert f"Not computed: {section['reason']}" in render_html(run).replace("&#x27;", "'")
