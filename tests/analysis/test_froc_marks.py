"""FROC through the platform: marks scored against the truth's lesions, analysed as mrmc.stats.analyze_froc does."""

import numpy as np
import pytest

from mrmc.stats.froc import analyze_froc, froc_result_to_json
from mrmc.stats.froc_data import FrocStudy
from studies.models import Read
from studies.reports.sections import froc as froc_report_section
from studies.services.analysis_exports import downloads, render_export
from studies.services.endpoint_decisions import ai_minus_control
from studies.services.froc_marks import score_marks

LESION = {"sop_instance_uid": "1.2.3", "frame": 1, "x": 100.0, "y": 100.0, "radius": 10.0}


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
    assert score_marks([mark(109, 100, 5)], [LESION]).lesion_ratings == [5.0]  # inside the lesion's radius
    assert score_marks([mark(111, 100, 5)], [LESION]).lesion_ratings == [None]


@pytest.fixture
def froc_run(read_study, run_analysis, statistician):
    """The demo study with lesion truth and marks placed by hand from each read's rating."""
    study = read_study(n_cases=30)
    study.marks_enabled = True
    study.save(update_fields=["marks_enabled"])
    for case in study.cases.filter(truth=1):
        case.lesions = [LESION]
        case.save(update_fields=["lesions"])
    for read in Read.objects.filter(case__study=study).select_related("case"):
        # confident reads mark the lesion (diseased) or a spot away from it; every read adds a weak distractor
        read.marks = ([mark(101, 99, read.rating)] if read.rating >= 40 else []) + [mark(300, 300, read.rating / 4)]
        Read.objects.filter(pk=read.pk).update(marks=read.marks)
    return run_analysis(actor=statistician, study=study)


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
