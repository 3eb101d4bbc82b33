"""RJafroc FROC workbook: read back with openpyxl, it gives the same figures of merit."""

import dataclasses
import io
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook

from mrmc.stats.exports import rjafroc_froc_workbook
from mrmc.stats.froc_data import read_froc_csv
from mrmc.stats.froc_fom import FrocRatings

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def study():
    return read_froc_csv(DATA / "froc_dataset04_marks.csv", DATA / "froc_dataset04_truth.csv")


def sheets(workbook: bytes) -> dict[str, list[tuple]]:
    book = load_workbook(io.BytesIO(workbook))
    return {name: list(book[name].values) for name in book.sheetnames}


def as_long_format(book: dict[str, list[tuple]], tmp_path: Path) -> tuple[Path, Path]:
    """The workbook's sheets rewritten as marks.csv and truth.csv, as RJafroc would read them."""
    lesions: dict[int, int] = {}
    for case, lesion, _weight, *_ in book["Truth"][1:]:
        lesions[case] = lesions.get(case, 0) + (lesion > 0)
    truth = ["case,truth,lesion_id,weight"]
    truth += [f"{case},{lesions[case]},{lesion},{weight!r}" for case, lesion, weight, *_ in book["Truth"][1:]]
    marks = ["reader,treatment,case,truth,mark_rating,lesion_id"]
    marks += [f"{r},{m},{case},{lesions[case]},{rating!r},0" for r, m, case, rating in book["FP"][1:]]
    marks += [f"{r},{m},{case},{lesions[case]},{rating!r},{lesion}" for r, m, case, lesion, rating in book["TP"][1:]]
    (tmp_path / "truth.csv").write_text("\n".join(truth) + "\n")
    (tmp_path / "marks.csv").write_text("\n".join(marks) + "\n")
    return tmp_path / "marks.csv", tmp_path / "truth.csv"


def test_workbook_layout(study):
    book = sheets(rjafroc_froc_workbook(study))
    assert list(book) == ["Truth", "FP", "TP"]
    truth = book["Truth"]
    assert truth[0] == ("CaseID", "LesionID", "Weight", "ReaderID", "ModalityID", "Paradigm")
    assert [row[5] for row in truth[1:3]] == ["FROC", "crossed"]
    assert len(truth) - 1 == study.n_normal + study.n_lesions == 242
    assert truth[1][3:5] == ("1, 3, 4, 5", "1, 2, 3, 4, 5")
    assert book["FP"][0] == ("ReaderID", "ModalityID", "CaseID", "FP_Rating")
    assert book["TP"][0] == ("ReaderID", "ModalityID", "CaseID", "LesionID", "TP_Rating")
    assert len(book["FP"]) - 1 == 1447 and len(book["TP"]) - 1 == 1826  # RJafroc's NL and LL mark counts


@pytest.mark.parametrize("fom", ["wafroc", "afroc", "hrauc"])
def test_workbook_round_trips_to_the_same_figures_of_merit(study, tmp_path, fom):
    again = read_froc_csv(*as_long_format(sheets(rjafroc_froc_workbook(study)), tmp_path))
    assert again.readers == study.readers and again.treatments == study.treatments
    expected, _ = FrocRatings.of_study(fom, study).values_and_left_out()
    actual, _ = FrocRatings.of_study(fom, again).values_and_left_out()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-15)  # weights summed in another order


def test_names_rjafroc_cannot_read_back_are_numbered(study):
    renamed = dataclasses.replace(study, readers=("Dr A", "Dr B, MD", "C", "D"), treatments=("AI", "x", "y", "z", "w"))
    truth = sheets(rjafroc_froc_workbook(renamed))["Truth"]
    assert truth[1][3:5] == ("1, 2, 3, 4", "1_AI, 2_x, 3_y, 4_z, 5_w")  # named to sort in the study's order
