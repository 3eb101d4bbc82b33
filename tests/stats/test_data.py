"""Long-table input: shapes, label order and errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mrmc.stats import ReaderStudy, StudyDataError, analyze, analyze_long, analyze_study, format_report, read_long_csv

DATA = Path(__file__).parent / "data"
HEADER = "reader,treatment,case,truth,rating\n"


def crossed_rows():
    rows = []
    for treatment in ("AI", "unaided"):
        for reader in ("r2", "r1"):
            for case, truth in (("c1", 0), ("c2", 1), ("c3", 0), ("c4", 1)):
                rating = 1.0 + truth + (reader == "r1") * 0.5 + (case == "c3")
                rows.append({"reader": reader, "treatment": treatment, "case": case, "truth": truth, "rating": rating})
    return rows


def write(tmp_path, text, name="study.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_shapes_and_first_appearance_order():
    study = read_long_csv(DATA / "vandyke.csv")
    assert study.ratings.shape == (2, 5, 114)
    assert study.treatments == ("1", "2") and study.readers == ("1", "2", "3", "4", "5")
    assert (study.n_normal, study.n_abnormal) == (69, 45)


def test_rows_as_mappings_or_tuples_give_the_same_study():
    rows = crossed_rows()
    from_dicts = ReaderStudy.from_rows(rows)
    from_tuples = ReaderStudy.from_rows(
        [(r["reader"], r["treatment"], r["case"], r["truth"], r["rating"]) for r in rows]
    )
    np.testing.assert_array_equal(from_dicts.ratings, from_tuples.ratings)
    assert from_dicts.readers == ("r2", "r1")
    assert from_dicts.treatments == ("AI", "unaided")
    assert from_dicts.cases == ("c1", "c2", "c3", "c4")


def test_analyze_long_matches_csv_analysis():
    study = read_long_csv(DATA / "franken.csv")
    rows = [
        {"reader": r, "treatment": t, "case": c, "truth": int(study.truth[k]), "rating": study.ratings[i, j, k]}
        for i, t in enumerate(study.treatments)
        for j, r in enumerate(study.readers)
        for k, c in enumerate(study.cases)
    ]
    from_rows = analyze_long(rows)
    from_arrays = analyze(study.ratings, study.truth)
    np.testing.assert_array_equal(from_rows.fom_table, from_arrays.fom_table)


def test_missing_reader_case_is_named(tmp_path):
    lines = (DATA / "vandyke.csv").read_text().splitlines(keepends=True)
    dropped = lines.pop(300)  # one read
    reader, treatment, case = dropped.split(",")[:3]
    result = analyze_study(read_long_csv(write(tmp_path, "".join(lines))))
    assert result.design.kind == "partially_paired"
    assert result.design.missing == ((treatment, reader, case),)
    assert f"reader {reader} / case {case} / treatment {treatment}" in format_report(result)


def test_no_diseased_cases(tmp_path):
    text = HEADER + "1,1,a,0,1\n1,1,b,0,2\n"
    with pytest.raises(StudyDataError, match="no diseased cases"):
        read_long_csv(write(tmp_path, text))


def test_no_normal_cases_from_rows():
    with pytest.raises(StudyDataError, match="no non-diseased cases"):
        ReaderStudy.from_rows([("1", "1", "a", 1, 3.0), ("1", "1", "b", 1, 2.0)])


def test_wrong_column(tmp_path):
    text = "reader,modality,case,truth,rating\n1,1,a,0,1\n"
    with pytest.raises(StudyDataError, match="missing column\\(s\\) treatment"):
        read_long_csv(write(tmp_path, text))


def test_non_numeric_rating_names_line_field_reader_and_case(tmp_path):
    text = HEADER + "1,1,a,0,1\nR7,1,b,1,high\n"
    with pytest.raises(StudyDataError) as error:
        read_long_csv(write(tmp_path, text))
    message = str(error.value)
    assert "line 3" in message and "'rating'" in message and "'R7'" in message and "'b'" in message


@pytest.mark.parametrize("value", ["nan", "inf", ""])
def test_non_finite_or_empty_rating(tmp_path, value):
    with pytest.raises(StudyDataError, match="line 2.*rating"):
        read_long_csv(write(tmp_path, HEADER + f"1,1,a,0,{value}\n"))


def test_bad_truth_value(tmp_path):
    with pytest.raises(StudyDataError, match="line 2: field 'truth' .* is '2'; expected 0 or 1"):
        read_long_csv(write(tmp_path, HEADER + "1,1,a,2,1\n"))


def test_inconsistent_truth_names_both_lines(tmp_path):
    text = HEADER + "1,1,a,0,1\n1,1,b,1,2\n2,1,a,1,3\n"
    with pytest.raises(StudyDataError, match="line 4: case 'a' has truth 1 but truth 0 on line 2"):
        read_long_csv(write(tmp_path, text))


def test_duplicate_read(tmp_path):
    text = HEADER + "1,1,a,0,1\n1,1,a,0,2\n"
    with pytest.raises(StudyDataError, match="line 3: reader '1' rated case 'a' in treatment '1' twice"):
        read_long_csv(write(tmp_path, text))


def test_empty_table(tmp_path):
    with pytest.raises(StudyDataError, match="empty"):
        read_long_csv(write(tmp_path, HEADER))


def test_array_input_is_validated():
    with pytest.raises(StudyDataError, match="truth has 3 entries but there are 4 cases"):
        analyze(np.zeros((2, 2, 4)), [0, 1, 1])
    with pytest.raises(StudyDataError, match="0 .* or 1"):
        analyze(np.zeros((2, 2, 3)), [0, 1, 2])
    with pytest.raises(StudyDataError, match="NaN"):
        analyze(np.full((2, 2, 2), np.nan), [0, 1])


def test_degenerate_study_is_refused_with_a_reason():
    """Perfect separation in every reader and treatment leaves no case variance to test against."""
    truth = np.array([0, 1] * 5)
    ratings = np.broadcast_to(truth * 10.0 + 1, (2, 3, 10))
    with pytest.raises(StudyDataError, match="degenerate data: every reader's auc has zero variance"):
        analyze(ratings, truth)
