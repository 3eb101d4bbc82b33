"""Exports reload: MRMCaov CSV gives the same analysis, iMRMC and RJafroc files follow their formats."""

import dataclasses
import io

import numpy as np
import pytest

from mrmc.stats import analyze_study, read_long_csv, result_to_json, simulate_roe_metz
from mrmc.stats.data import ReaderStudy
from mrmc.stats.exports import imrmc_text, mrmcaov_csv, rjafroc_workbook


@pytest.fixture
def study():
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=7, n_abnormal=5, treatment_effect=0.5, seed=4)
    return ReaderStudy(ratings=ratings, truth=truth, treatments=("unaided", "aided"), readers=("R01", "R02", "R03"),
                       cases=tuple(f"C{i:02d}" for i in range(12)))


def test_mrmcaov_csv_reanalyses_identically(study, tmp_path):
    path = tmp_path / "mrmcaov.csv"
    path.write_text(mrmcaov_csv(study))
    assert path.read_text().splitlines()[0] == "reader,treatment,case,truth,rating"
    again = read_long_csv(path)
    assert again.treatments == ("1_unaided", "2_aided")  # named to sort in the study's order (R sorts them)
    renamed = dataclasses.replace(study, treatments=again.treatments)
    assert result_to_json(analyze_study(again)) == result_to_json(analyze_study(renamed))


def test_imrmc_file_layout(study):
    lines = imrmc_text(study).splitlines()
    header = dict(line.split(": ", 1) for line in lines[: lines.index("BEGIN DATA:")] if line[:3] in
                  ("NR:", "N0:", "N1:", "NM:"))
    assert header == {"NR": "3", "N0": "7", "N1": "5", "NM": "2"}
    data = [line.split(",") for line in lines[lines.index("BEGIN DATA:") + 1:]]
    assert all(len(row) == 4 for row in data)
    truth_rows = [row for row in data if row[0] == "-1"]
    assert len(truth_rows) == 12 and {row[2] for row in truth_rows} == {"0"}
    assert sorted(int(row[3]) for row in truth_rows) == sorted(study.truth.astype(int))
    scores = [row for row in data if row[0] != "-1"]
    assert len(scores) == 2 * 3 * 12
    reader, case, modality, score = scores[-1]
    assert float(score) == study.ratings[int(modality) - 1, int(reader) - 1, int(case) - 1]


def test_rjafroc_workbook_sheets(study):
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(rjafroc_workbook(study)))
    assert book.sheetnames == ["Truth", "FP", "TP"]
    truth = list(book["Truth"].values)
    assert truth[0][:3] == ("CaseID", "LesionID", "Weight")
    assert [row[5] for row in truth[1:3]] == ["ROC", "crossed"]
    assert sum(row[1] for row in truth[1:]) == 5
    fp, tp = list(book["FP"].values)[1:], list(book["TP"].values)[1:]
    assert len(fp) == 2 * 3 * 7 and len(tp) == 2 * 3 * 5
    assert truth[1][3:5] == ("R01, R02, R03", "1_unaided, 2_aided")  # names kept; modalities sort in study order
    reader, modality, case, rating = fp[-1]
    assert (reader, modality) == ("R03", "2_aided") and not study.truth[case - 1]
    assert rating == pytest.approx(study.ratings[1, 2, case - 1])
    assert np.all([study.truth[row[2] - 1] for row in tp])


def test_the_rjafroc_roc_workbook_refuses_reads_that_do_not_exist(study):
    """An absent row means "not marked" there, which would turn a missing read into the lowest rating."""
    from mrmc.stats import StudyDataError

    ratings = study.ratings.copy()
    ratings[0, 1, 3] = np.nan
    with pytest.raises(StudyDataError, match="fully crossed studies only; 1 reads do not exist"):
        rjafroc_workbook(dataclasses.replace(study, ratings=ratings))
