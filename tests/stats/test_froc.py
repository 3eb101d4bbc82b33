"""FROC data: the long format's checks, figures of merit worked by hand, leave-one-out values, CLI."""

import json
from pathlib import Path

import numpy as np
import pytest

from mrmc.stats.cli import main
from mrmc.stats.data import StudyDataError
from mrmc.stats.froc import analyze_froc, froc_end_points, froc_result_to_json
from mrmc.stats.froc_data import FrocStudy, read_froc_csv
from mrmc.stats.froc_fom import FrocRatings

DATA = Path(__file__).parent / "data"
MARKS, TRUTH = DATA / "froc_dataset04_marks.csv", DATA / "froc_dataset04_truth.csv"

SMALL_TRUTH = """case,truth,lesion_id,weight
N1,0,0,0
N2,0,0,0
D1,2,1,0.3
D1,2,2,0.7
D2,1,1,1
"""
# N1: one NL at 2; N2 unmarked; D1: lesion 1 at 3, lesion 2 unmarked, an NL at 4; D2: lesion 1 at 2.
SMALL_MARKS = """reader,treatment,case,truth,mark_rating,lesion_id
A,T,N1,0,2,0
A,T,D1,2,3,1
A,T,D1,2,4,0
A,T,D2,1,2,1
"""


def write(tmp_path, marks=SMALL_MARKS, truth=SMALL_TRUTH):
    (tmp_path / "marks.csv").write_text(marks)
    (tmp_path / "truth.csv").write_text(truth)
    return tmp_path / "marks.csv", tmp_path / "truth.csv"


@pytest.fixture
def small(tmp_path):
    return read_froc_csv(*write(tmp_path))


def test_small_study_layout(small):
    assert small.cases == ("N1", "N2", "D1", "D2") and small.n_normal == 2 and small.n_lesions == 3
    assert small.nl[0, 0, :, 0].tolist() == [2, -np.inf, 4, -np.inf]
    assert small.ll[0, 0].tolist() == [[3, -np.inf], [2, -np.inf]]
    assert small.weights.tolist() == [[0.3, 0.7], [1, 0]]


# Worked by hand with psi(x, y) = 1 (y > x), 1/2 (y = x): normal highest NL 2 and -inf;
# lesions 3, -inf (D1) and 2 (D2); HrAuc diseased ratings max(4, 3) = 4 and 2.
@pytest.mark.parametrize(
    ("fom", "expected", "without_n2", "without_d1"),
    [
        ("afroc", 4 / 6, 1.5 / 3, 1.5 / 2),
        ("wafroc", (0.3 + 0.5 + 0.3 + 0.35 + 1) / 4, (0.3 + 0.5) / 2, (0.5 + 1) / 2),
        ("hrauc", 3.5 / 4, 1.5 / 2, 1.5 / 2),
    ],
)
def test_figures_of_merit_by_hand(small, fom, expected, without_n2, without_d1):
    theta, left_out = FrocRatings.of_study(fom, small).values_and_left_out()
    assert theta[0, 0] == pytest.approx(expected, abs=1e-15)
    assert left_out[0, 0, 1] == pytest.approx(without_n2, abs=1e-15)
    assert left_out[0, 0, 2] == pytest.approx(without_d1, abs=1e-15)


def test_froc_end_points(small):
    sensitivity, nlf = froc_end_points(small)
    assert sensitivity[0, 0] == pytest.approx(2 / 3) and nlf[0, 0] == pytest.approx(2 / 4)


def _without_case(study: FrocStudy, k: int) -> FrocStudy:
    keep = np.delete(np.arange(len(study.cases)), k)
    diseased = keep[keep >= study.n_normal] - study.n_normal
    return FrocStudy(
        nl=study.nl[:, :, keep],
        ll=study.ll[:, :, diseased],
        weights=study.weights[diseased],
        lesion_ids=study.lesion_ids[diseased],
        treatments=study.treatments,
        readers=study.readers,
        cases=tuple(study.cases[i] for i in keep),
        n_normal=study.n_normal - int(k < study.n_normal),
    )


@pytest.mark.parametrize("fom", ["wafroc", "afroc", "hrauc"])
def test_leave_one_out_values_equal_recomputation(fom):
    study = read_froc_csv(MARKS, TRUTH)
    _, left_out = FrocRatings.of_study(fom, study).values_and_left_out()
    for k in (0, 57, 99, 100, 150, 199):
        theta, _ = FrocRatings.of_study(fom, _without_case(study, k)).values_and_left_out()
        np.testing.assert_allclose(left_out[..., k], theta, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    ("marks", "truth", "message"),
    [
        ("reader,treatment,case,truth,rating,lesion_id\n", SMALL_TRUTH, "missing column(s) mark_rating"),
        (SMALL_MARKS + "A,T,D2,1,1,2\n", SMALL_TRUTH, "line 6: lesion 2 of case 'D2' is not in the truth file"),
        (SMALL_MARKS + "A,T,D1,2,1,1\n", SMALL_TRUTH, "line 6: reader 'A' marked lesion 1 of case 'D1' in treatment"),
        (SMALL_MARKS + "A,T,X9,0,1,0\n", SMALL_TRUTH, "line 6: case 'X9' is not in the truth file"),
        (SMALL_MARKS + "A,T,D2,2,1,0\n", SMALL_TRUTH, "line 6: case 'D2' has truth 2 here but 1 in the truth file"),
        (SMALL_MARKS + "A,T,N2,0,high,0\n", SMALL_TRUTH, "line 6: field 'mark_rating' is 'high'"),
        (SMALL_MARKS, SMALL_TRUTH.replace("D1,2,2,0.7", "D1,2,2,0.6"), "line 4: the lesion weights of case 'D1' sum to 0.9, not 1"),
        (SMALL_MARKS, SMALL_TRUTH + "D2,1,2,0\n", "line 6: case 'D2' has truth 1 but 2 lesion row(s)"),
        (SMALL_MARKS, SMALL_TRUTH + "N1,0,0,0\n", "line 7: non-diseased case 'N1' is listed twice"),
        (SMALL_MARKS, SMALL_TRUTH + "N3,0,1,0\n", "line 7: case 'N3' with truth 0 has lesion_id 1"),
        (SMALL_MARKS, SMALL_TRUTH.replace("D1,2,2,0.7", "D1,2,1,0.7"), "line 5: lesion 1 of case 'D1' is listed twice"),
    ],
)
def test_reading_errors_name_file_line_and_problem(tmp_path, marks, truth, message):
    marks_path, truth_path = write(tmp_path, marks, truth)
    with pytest.raises(StudyDataError) as error:
        read_froc_csv(marks_path, truth_path)
    assert message in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_degenerate_study_is_refused(tmp_path):
    marks = "reader,treatment,case,truth,mark_rating,lesion_id\nA,T,D1,2,5,1\nA,T,D1,2,5,2\nA,T,D2,1,5,1\n"
    with pytest.raises(StudyDataError, match="zero variance"):
        analyze_froc(read_froc_csv(*write(tmp_path, marks)), fom="afroc")


def test_cli_json_has_the_analyze_shape_and_the_froc_end_points(capsys):
    assert main(["analyze-froc", str(MARKS), str(TRUTH), "--fom", "hrauc", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["fom"] == "hrauc" and document["cov"] == "jackknife" and document["n_lesions"] == 142
    assert document == froc_result_to_json(analyze_froc(read_froc_csv(MARKS, TRUTH), fom="hrauc"))
    for key in ("fom_table", "var_components", "mean_squares", "rrrc", "frrc", "rrfc", "treatment_components"):
        assert key in document
    assert set(document["lesion_sensitivity"]) == {"1", "2", "3", "4", "5"}


def test_cli_text_report_and_bad_input(capsys, tmp_path):
    assert main(["analyze-froc", str(MARKS), str(TRUTH)]) == 0
    out = capsys.readouterr().out
    assert "wAFROC" in out and "lesion sensitivity / NLF" in out
    assert main(["analyze-froc", str(TRUTH), str(TRUTH)]) == 2
    assert "missing column(s)" in capsys.readouterr().err
    assert main(["analyze-froc", str(MARKS), str(TRUTH), "--fom", "auc"]) == 2
