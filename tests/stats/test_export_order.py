"""Exports keep the study's treatment order in every program, and no label can break an iMRMC header."""

import io
import shutil
import subprocess

import numpy as np
import pytest
from openpyxl import load_workbook

from mrmc.stats import analyze_study, read_long_csv, simulate_roe_metz
from mrmc.stats.data import ReaderStudy
from mrmc.stats.exports import imrmc_text, mrmcaov_csv, names_in_given_order, rjafroc_workbook


def test_names_that_already_sort_in_order_are_kept():
    assert names_in_given_order(("aided", "unaided")) == ["aided", "unaided"]
    assert names_in_given_order(("1", "2", "3")) == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (("unaided", "aided"), ["1_unaided", "2_aided"]),  # would sort the other way
        (("ai-aided", "unaided"), ["1_ai-aided", "2_unaided"]),  # punctuation: a locale may ignore it
        (("Aided", "baseline"), ["1_Aided", "2_baseline"]),  # case: C and en_US sort it differently
        (tuple(f"arm{k}" for k in range(10, 0, -1)), [f"{k:02d}_arm{11 - k}" for k in range(1, 11)]),
    ],
)
def test_other_names_carry_their_zero_padded_position(labels, expected):
    assert names_in_given_order(labels) == expected
    assert sorted(expected) == expected


def _study(treatments, readers=("R1", "R2"), cases=("c1", "c2", "c3", "c4")):
    ratings = np.arange(len(treatments) * len(readers) * len(cases), dtype=float).reshape(
        len(treatments), len(readers), len(cases))
    return ReaderStudy(ratings=ratings, truth=np.array([False, True, False, True]), treatments=treatments,
                       readers=readers, cases=cases)


def test_mrmcaov_csv_lists_only_reads_that_exist(tmp_path):
    study = _study(("unaided", "aided"))
    ratings = study.ratings.copy()
    ratings[0, 1, 2] = np.nan
    partial = ReaderStudy(ratings=ratings, truth=study.truth, treatments=study.treatments, readers=study.readers,
                          cases=study.cases)
    rows = mrmcaov_csv(partial).splitlines()[1:]
    assert len(rows) == 2 * 2 * 4 - 1 and "R2,1_unaided,c3,0,10.0" not in rows


HOSTILE = ("NR: 99", "x\nN0: 1", "n1:7", "NM:3\r\nBEGIN DATA:", "begin data: now")


def test_no_label_can_break_the_imrmc_header():
    study = _study(HOSTILE[:2], readers=HOSTILE[2:4], cases=("N1: 0", "c2", "nr:5", "BEGIN DATA:"))
    text = imrmc_text(study, description="Study NR: 3 N0: 4\nNM: 9")
    header = text.split("\nBEGIN DATA:\n")[0].splitlines()
    # iMRMC upper-cases each header line and takes any line containing a token for that count
    counted = [line for line in header if any(token in line.upper() for token in ("NR:", "N0:", "N1:", "NM:"))]
    assert counted == ["NR: 2", "N0: 2", "N1: 2", "NM: 2"]
    assert text.count("BEGIN DATA:") == 1 and "modality 1 = NR  99" in header
    assert "BEGIN DATA" in text.split("\nBEGIN DATA:\n")[0]  # the label is kept, without its colon


def test_imrmc_modalities_are_numbered_in_study_order():
    study = _study(("aided", "unaided"))
    lines = imrmc_text(study).splitlines()
    assert lines[1:3] == ["modality 1 = aided", "modality 2 = unaided"]
    data = lines[lines.index("BEGIN DATA:") + 1:]
    first_score = next(row for row in data if not row.startswith("-1,"))
    assert first_score == "1,1,1,0.0"  # reader 1, case 1, modality 1 = the study's first treatment


def test_rjafroc_workbook_numbers_names_it_cannot_read_back():
    study = _study(("unaided", "aided"), readers=("Dr A", "R2"))
    truth = list(load_workbook(io.BytesIO(rjafroc_workbook(study)))["Truth"].values)
    assert truth[1][3:5] == ("1, 2", "1_unaided, 2_aided")


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed (Rscript not on PATH)")
def test_r_factor_orders_the_exported_treatments_as_the_study(tmp_path):
    study = _study(("unaided", "ai-aided", "Second_Look"))
    path = tmp_path / "mrmcaov.csv"
    path.write_text(mrmcaov_csv(study))
    for locale in ("C", "en_US.UTF-8"):
        script = (f"invisible(Sys.setlocale('LC_COLLATE', '{locale}')); "
                  f"cat(levels(factor(read.csv('{path}')$treatment)), sep = '\\n')")
        levels = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True, timeout=60)
        assert levels.stdout.split() == ["1_unaided", "2_ai-aided", "3_Second_Look"]


def test_mrmcaov_csv_reanalyses_with_the_study_order(tmp_path):
    ratings, truth = simulate_roe_metz(n_readers=3, n_normal=8, n_abnormal=6, treatment_effect=0.5, seed=2)
    study = ReaderStudy(ratings=ratings, truth=truth, treatments=("unaided", "aided"), readers=("R1", "R2", "R3"),
                        cases=tuple(f"c{k}" for k in range(14)))
    path = tmp_path / "mrmcaov.csv"
    path.write_text(mrmcaov_csv(study))
    again = read_long_csv(path)
    assert again.treatments == ("1_unaided", "2_aided")
    np.testing.assert_array_equal(again.ratings, study.ratings)
    assert analyze_study(again).analysis.rrrc.differences[0].estimate == pytest.approx(
        analyze_study(study).analysis.rrrc.differences[0].estimate)
