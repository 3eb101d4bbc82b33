"""FROC through the platform: marks scored against the truth's lesions, analysed as mrmc.stats.analyze_froc does,
from the marks, lesions and acceptance radius frozen when the run was created."""

import hashlib
import json

import numpy as np
import pytest

from mrmc.stats import StudyDataError
from mrmc.stats.froc import analyze_froc, froc_result_to_json
from mrmc.stats.froc_data import FrocStudy
from studies.errors import RuleViolation
from studies.models import AnalysisRun, AuditEvent, Case, Read, Study
from studies.reports import render_html
from studies.reports.sections import froc as froc_report_section
from studies.services import analysis
from studies.services.analysis_exports import downloads, render_export
from studies.services.analysis_snapshot import FrozenMarks
from studies.services.endpoint_decisions import ai_minus_control
from studies.services.froc_marks import froc_study, run_froc_study, score_marks

LESION = {"sop_instance_uid": "1.2.3", "frame": 1, "x": 100.0, "y": 100.0, "radius": 10.0}
CENTRE_ONLY = {"sop_instance_uid": "1.2.3", "frame": 1, "x": 100.0, "y": 100.0}  # scored with the acceptance radius
STUDY_RADIUS = 16.0  # the fixture study's acceptance radius; its marks on lesions are 15 px from the centre


def mark(x, y, confidence, uid="1.2.3", frame=1):
    return {"x": x, "y": y, "confidence": confidence, "instance_uid": uid, "frame": frame}


def test_marks_map_to_lesion_and_non_lesion_localizations_by_hand():
    second = {"sop_instance_uid": "1.2.3", "frame": 1, "x": 150.0, "y": 100.0}  # no radius: acceptance radius
    marks = [mark(105, 100, 40), mark(102, 98, 70), mark(100, 100, 90, frame=2), mark(100, 100, 80, uid="9.9"),
             mark(165, 100, 30), mark(175, 100, 20)]
    scored = score_marks(marks, [LESION, second], acceptance_radius=20)
    # lesion 1: 70 (its best), 40 a second mark -> NL; other frame / other image -> NL; 165 is 15 px from
    # lesion 2 (within 20) -> LL 30; 175 is 25 px away -> NL
    assert scored.lesion_ratings == [70.0, 30.0]
    assert sorted(scored.nl_ratings) == [20.0, 40.0, 80.0, 90.0]
    # a lesion's own radius (10) wins over the acceptance radius, wider or narrower
    assert score_marks([mark(109, 100, 5)], [LESION], acceptance_radius=5).lesion_ratings == [5.0]
    assert score_marks([mark(111, 100, 5)], [LESION], acceptance_radius=50).lesion_ratings == [None]
    assert score_marks([mark(111, 100, 5)], [CENTRE_ONLY], acceptance_radius=12).lesion_ratings == [5.0]
    assert score_marks([mark(113, 100, 5)], [CENTRE_ONLY], acceptance_radius=12).lesion_ratings == [None]


def place_marks(study):
    """Lesion truth (a centre without a radius) and marks placed by hand from each read's rating."""
    Study.objects.filter(pk=study.pk).update(marks_enabled=True, froc_acceptance_radius=STUDY_RADIUS)  # locked
    Case.objects.filter(study=study, truth=1).update(lesions=[CENTRE_ONLY])
    for read in Read.objects.filter(case__study=study):
        # confident reads mark 15 px from the lesion's centre (diseased) or a spot away from it; every read adds
        # a weak distractor
        marks = ([mark(109, 112, read.rating)] if read.rating >= 40 else []) + [mark(300, 300, read.rating / 4)]
        Read.objects.filter(pk=read.pk).update(marks=marks)
    study.refresh_from_db()
    return study


@pytest.fixture
def froc_study_read(read_study):
    return place_marks(read_study(n_cases=30))


@pytest.fixture
def froc_run(froc_study_read, run_analysis, statistician):
    return run_analysis(actor=statistician, study=froc_study_read)


def hand_built(run) -> FrocStudy:
    """The FrocStudy of the marks above, built from the reads without the platform's mapping."""
    reads = list(Read.objects.filter(case__study=run.study).select_related("reader", "arm", "case"))
    treatments, readers = ("aided", "unaided"), tuple(sorted({r.reader.code for r in reads}))
    normal = sorted(r.case.label for r in reads if r.case.truth == 0)
    diseased = sorted(r.case.label for r in reads if r.case.truth == 1)
    normal, diseased = list(dict.fromkeys(normal)), list(dict.fromkeys(diseased))
    nl = np.full((2, len(readers), len(normal) + len(diseased), 2), -np.inf)
    ll = np.full((2, len(readers), len(diseased), 1), -np.inf)
    for read in reads:
        t, r = treatments.index(read.arm.name), readers.index(read.reader.code)
        nl_ratings = [read.rating / 4]
        if read.case.truth == 1:
            if read.rating >= 40:
                ll[t, r, diseased.index(read.case.label), 0] = read.rating
            k = len(normal) + diseased.index(read.case.label)
        else:
            nl_ratings += [read.rating] if read.rating >= 40 else []
            k = normal.index(read.case.label)
        nl[t, r, k, : len(nl_ratings)] = sorted(nl_ratings, reverse=True)
    return FrocStudy(nl=nl, ll=ll, weights=np.ones((len(diseased), 1)), lesion_ids=np.ones((len(diseased), 1), int),
                     treatments=treatments, readers=readers, cases=tuple(normal + diseased), n_normal=len(normal))


def test_froc_figures_equal_analyze_froc_of_the_hand_built_study(froc_run):
    froc = froc_run.results["froc"]
    assert froc["available"] and froc["primary_figure"] == "wafroc"
    expected = hand_built(froc_run)
    for fom in ("wafroc", "afroc", "hrauc"):
        reference = froc_result_to_json(analyze_froc(expected, fom=fom))
        ours = froc["figures"][fom]
        assert ours["treatments"] == ["aided", "unaided"]
        for arm in ("aided", "unaided"):
            for reader, value in reference["fom_table"][arm].items():
                assert ours["fom_table"][arm][reader] == pytest.approx(value, abs=1e-12)
        assert ours["rrrc"]["differences"][0]["estimate"] == pytest.approx(
            reference["rrrc"]["differences"][0]["estimate"], abs=1e-12)
        assert ours["rrrc"]["differences"][0]["se"] == pytest.approx(reference["rrrc"]["differences"][0]["se"], abs=1e-12)
    wafroc = froc["figures"]["wafroc"]["rrrc"]["differences"][0]
    assert ai_minus_control("wafroc", froc_run.results).estimate == wafroc["estimate"]  # aided first: AI − control
    assert "rjafroc_froc.xlsx" in downloads(froc_run)
    assert render_export(run=froc_run, name="rjafroc_froc.xlsx")[:2] == b"PK"  # an xlsx (zip) file
    section = froc_report_section.build(froc_run, froc_run.results)
    titles = [table.caption for table in section.tables]
    assert titles[:2] == ["wAFROC per reader and arm", "wAFROC: differences between arms"] and len(titles) == 6
    first_difference = section.tables[1].rows[0]
    assert first_difference[2] == f"{wafroc['estimate']:.4f}"  # the table prints the stored AI − control estimate


def test_a_run_without_marks_has_no_froc_section_or_download(read_study, run_analysis, statistician):
    run = run_analysis(actor=statistician, study=read_study(n_cases=20))
    assert run.results["froc"] == {"available": False, "reason": "the study does not collect lesion marks"}
    section = froc_report_section.build(run, run.results)
    assert section.paragraphs == ["No FROC analysis: the study does not collect lesion marks."]
    assert "rjafroc_froc.xlsx" not in downloads(run)
    assert run.results["arm_order"]["arms"] == ["aided", "unaided"]


def assert_figures_are_those_of(froc: dict, expected: FrocStudy) -> None:
    """Every reader's figure and the RRRC difference of each FROC figure equal analyze_froc of ``expected``."""
    for fom in ("wafroc", "afroc", "hrauc"):
        reference = froc_result_to_json(analyze_froc(expected, fom=fom))
        ours = froc["figures"][fom]
        for arm in ("aided", "unaided"):
            for reader, value in reference["fom_table"][arm].items():
                assert ours["fom_table"][arm][reader] == pytest.approx(value, abs=1e-12)
        for key in ("estimate", "se"):
            assert ours["rrrc"]["differences"][0][key] == pytest.approx(reference["rrrc"]["differences"][0][key],
                                                                        abs=1e-12)


@pytest.fixture
def created_run(froc_study_read, statistician, django_capture_on_commit_callbacks):
    """A run created (its snapshot frozen) but not yet analysed: ``analyse()`` runs its queued job."""
    with django_capture_on_commit_callbacks(execute=False) as queued:
        run = analysis.start_run(actor=statistician, study=froc_study_read)

    def analyse() -> AnalysisRun:
        for callback in queued:
            callback()
        run.refresh_from_db()
        return run

    return run, analyse


def test_the_run_freezes_marks_lesions_and_radius_with_their_sha256(froc_run):
    document = json.loads(froc_run.marks_snapshot)
    assert froc_run.marks_snapshot_checksum == hashlib.sha256(froc_run.marks_snapshot.encode()).hexdigest()
    assert document["acceptance_radius"] == STUDY_RADIUS and document["marks_enabled"] is True
    reads = Read.objects.filter(case__study=froc_run.study).select_related("reader", "arm", "case")
    frozen = {(read["treatment"], read["reader"], read["case"]): read["marks"] for read in document["reads"]}
    assert len(document["reads"]) == len(frozen) == reads.count() == 2 * 5 * 30
    for read in reads:  # reader, arm, case, image and frame, position and confidence of every mark
        assert frozen[(read.arm.name, read.reader.code, read.case.label)] == read.marks
    assert {case["case"]: (case["truth"], case["lesions"]) for case in document["cases"]} == {
        case.label: (case.truth, case.lesions) for case in Case.objects.filter(study=froc_run.study)}
    started = AuditEvent.objects.get(action="analysis_started", entity_id=str(froc_run.pk))
    assert started.after["marks_snapshot_sha256"] == froc_run.marks_snapshot_checksum
    assert json.loads(render_export(run=froc_run, name="results.json"))["run"]["marks_snapshot_sha256"] == (
        froc_run.marks_snapshot_checksum)


def test_marks_lesions_and_radius_changed_after_the_run_was_created_change_nothing_in_it(
        created_run, froc_study_read, run_analysis, statistician):
    run, analyse = created_run
    expected = hand_built(run)  # from the ratings, which do not change below
    # after the run was created and before it is analysed: every read gets a mark at (500, 500), the lesions move
    # there and the acceptance radius shrinks to 10 px; each alone would change the frozen run's figures
    for read in Read.objects.filter(case__study=froc_study_read):
        Read.objects.filter(pk=read.pk).update(marks=[*read.marks, mark(500, 500, read.rating)])
    Case.objects.filter(study=froc_study_read, truth=1).update(lesions=[{**CENTRE_ONLY, "x": 500.0, "y": 500.0}])
    Study.objects.filter(pk=froc_study_read.pk).update(froc_acceptance_radius=10.0)
    run = analyse()
    froc = run.results["froc"]
    assert froc["available"] and froc["acceptance_radius"] == STUDY_RADIUS
    assert_figures_are_those_of(froc, expected)
    exported = run_froc_study(run)  # the RJafroc FROC workbook's data: the frozen marks too
    np.testing.assert_array_equal(exported.nl, expected.nl)
    np.testing.assert_array_equal(exported.ll, expected.ll)
    later = run_analysis(actor=statistician, study=froc_study_read).results["froc"]  # the edits do matter
    assert later["acceptance_radius"] == 10.0 and later["n_ll"] == 2 * 5 * 15 > froc["n_ll"]  # 15 diseased cases
    assert later["figures"]["wafroc"]["fom_table"] != froc["figures"]["wafroc"]["fom_table"]


def test_the_report_says_which_acceptance_radius_was_used_and_that_the_design_is_fully_crossed(froc_run):
    froc = froc_run.results["froc"]
    assert froc["acceptance_radius"] == STUDY_RADIUS and froc["design"] == "fully_crossed"
    text = " ".join(froc_report_section.build(froc_run, froc_run.results).paragraphs)
    assert "the acceptance radius of 16 px (the study's protocol setting)" in text
    assert "needs a fully crossed design (every case read by every reader in every arm): these reads are" in text
    assert f"marks snapshot sha256 {froc_run.marks_snapshot_checksum}" in text


def test_a_run_whose_marks_were_not_captured_says_so_and_still_renders(created_run):
    run, analyse = created_run
    AnalysisRun.objects.filter(pk=run.pk).update(marks_snapshot=None, marks_snapshot_checksum=None)  # as before
    run = analyse()
    assert run.status == AnalysisRun.Status.SUCCEEDED
    assert run.results["froc"] == {"available": False, "reason": "marks were not captured for this run"}
    assert "No FROC analysis: marks were not captured for this run." in render_html(run)
    assert "rjafroc_froc.xlsx" not in downloads(run)
    with pytest.raises(RuleViolation, match="offers no rjafroc_froc.xlsx: marks were not captured for this run"):
        render_export(run=run, name="rjafroc_froc.xlsx")


def test_runs_finished_before_marks_were_captured_render_with_a_note(froc_run):
    old = AnalysisRun.objects.get(pk=froc_run.pk)
    old.marks_snapshot = old.marks_snapshot_checksum = None  # in memory only: a finished run never changes
    before_froc = {key: value for key, value in froc_run.results.items() if key != "froc"}
    assert froc_report_section.build(old, before_froc).paragraphs == [
        "No FROC analysis: marks were not captured for this run."]
    live_figures = froc_report_section.build(old, froc_run.results)  # FROC computed from the database then
    assert len(live_figures.tables) == 6
    assert live_figures.paragraphs[1].startswith("Note: marks were not captured for this run; these figures were "
                                                 "computed from the marks and lesions in the database")
    assert "rjafroc_froc.xlsx" not in downloads(old)


def test_a_marks_snapshot_that_disagrees_with_the_reads_snapshot_gives_no_froc(created_run):
    run, analyse = created_run
    document = json.loads(run.marks_snapshot)
    document["reads"] = document["reads"][1:]
    AnalysisRun.objects.filter(pk=run.pk).update(marks_snapshot=json.dumps(document))
    froc = analyse().results["froc"]
    assert not froc["available"] and "does not hold the same reads and truth as the reads snapshot" in froc["reason"]


def frozen_marks(**changes) -> FrozenMarks:
    """Two readers x two arms x one non-diseased (N1) and one diseased case (D1), no marks."""
    values = {"acceptance_radius": 20, "marks_enabled": True, "truth": {"N1": 0, "D1": 1},
              "lesions": {"N1": [], "D1": [CENTRE_ONLY]},
              "marks": {(arm, reader, case): [] for arm in ("aided", "unaided") for reader in ("R1", "R2")
                        for case in ("N1", "D1")}}
    return FrozenMarks(**{**values, **changes})


def test_froc_needs_a_fully_crossed_design_and_says_what_is_missing():
    crossed = frozen_marks()
    assert froc_study(crossed).nl.shape == (2, 2, 2, 1)
    missing = {key: marks for key, marks in crossed.marks.items() if key != ("unaided", "R2", "D1")}
    with pytest.raises(StudyDataError, match=r"needs a fully crossed design \(every case read by every reader in "
                                             r"every arm\), as RJafroc's does: 7 of the 8 reads of 2 readers x 2 arms"):
        froc_study(frozen_marks(marks=missing))


@pytest.mark.parametrize(("lesion", "message"), [
    ({"sop_instance_uid": "1.2.3", "x": 1.0}, "lesion 1 of case D1 has no numeric x and y"),
    ("a lesion", "lesion 1 of case D1 has no numeric x and y"),
    ({**CENTRE_ONLY, "radius": "5"}, "lesion 1 of case D1 has a radius that is not a number"),
])
def test_a_lesion_scoring_cannot_read_is_named(lesion, message):
    with pytest.raises(StudyDataError, match=message):
        froc_study(frozen_marks(lesions={"N1": [], "D1": [lesion]}))


def test_marks_on_a_non_diseased_case_with_lesions_in_its_truth_are_non_lesion_localizations():
    marks = {**frozen_marks().marks, ("aided", "R1", "N1"): [mark(100, 100, 70)]}
    study = froc_study(frozen_marks(lesions={"N1": [CENTRE_ONLY], "D1": [CENTRE_ONLY]}, marks=marks))
    assert study.nl[0, 0, 0, 0] == 70 and np.isneginf(study.ll).all()
