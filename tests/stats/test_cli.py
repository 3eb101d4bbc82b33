"""``python -m mrmc.stats``: reports, JSON shape and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mrmc.stats.cli import main

DATA = Path(__file__).parent / "data"
VANDYKE = str(DATA / "vandyke.csv")


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_text_report(capsys):
    status, out, _ = run(capsys, "analyze", VANDYKE)
    assert status == 0
    assert "F(1, 15.26) = 4.4563, p = 0.0517" in out
    assert "X2(1) = 5.4760, p = 0.0193" in out
    assert "OR-DBM MRMC (Iowa) convention" in out


def test_json_has_the_documented_keys(capsys):
    status, out, _ = run(capsys, "analyze", VANDYKE, "--json", "--cov", "delong")
    assert status == 0
    document = json.loads(out)
    for key in (
        "fom",
        "cov",
        "treatments",
        "readers",
        "n_normal",
        "n_abnormal",
        "fom_table",
        "treatment_means",
        "var_components",
        "rrrc",
        "frrc",
        "rrfc",
    ):
        assert key in document
    assert (document["fom"], document["cov"], document["n_normal"], document["n_abnormal"]) == ("auc", "delong", 69, 45)
    assert set(document["var_components"]) == {"var_R", "var_TR", "cov1", "cov2", "cov3", "var_error"}
    for key in ("rrrc", "frrc", "rrfc"):
        section = document[key]
        assert set(section["test"]) >= {"statistic", "df1", "df2", "p"}
        (difference,) = section["differences"]
        assert set(difference) >= {"treatments", "estimate", "se", "ci", "df", "p"}
        assert difference["treatments"] == ["1", "2"]
        assert set(section["treatment_ci"]["1"]) >= {"estimate", "se", "ci", "df"}
    assert document["frrc"]["test"]["df2"] is None
    assert document["fom_table"]["2"]["4"] == pytest.approx(0.999355877616747)


@pytest.mark.parametrize(
    "options",
    [
        ["--fom", "pauc", "--pauc-range", "0.8", "1"],
        ["--fom", "sens", "--threshold", "3"],
        ["--fom", "spec", "--threshold", "3", "--cov", "delong"],
        ["--cov", "bootstrap", "--bootstrap", "200", "--seed", "3"],
        ["--convention", "mrmcaov", "--cov", "unbiased"],
    ],
)
def test_options(capsys, options):
    status, out, err = run(capsys, "analyze", VANDYKE, "--json", *options)
    assert status == 0, err
    document = json.loads(out)
    assert document["rrrc"]["test"]["p"] is not None


def test_bootstrap_seed_is_reproducible(capsys):
    first = run(capsys, "analyze", VANDYKE, "--json", "--cov", "bootstrap", "--bootstrap", "100", "--seed", "5")[1]
    second = run(capsys, "analyze", VANDYKE, "--json", "--cov", "bootstrap", "--bootstrap", "100", "--seed", "5")[1]
    assert first == second and json.loads(first)["seed"] == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyze", "missing.csv"], "No such file"),
        (["analyze", VANDYKE, "--cov", "sandwich"], "invalid choice"),
        (["analyze", VANDYKE, "--fom", "sens"], "threshold"),
        (["analyze", VANDYKE, "--fom", "pauc", "--cov", "unbiased"], "auc"),
        (["analyze"], "required"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_bad_csv_content(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("reader,treatment,case,truth,rating\n1,1,a,0,x\n")
    status, _, err = run(capsys, "analyze", str(path))
    assert status == 2 and "line 2" in err and err.count("\n") == 1


def test_power_from_pilot_and_from_components(capsys):
    status, out, _ = run(capsys, "power", "--pilot", VANDYKE, "--effect", "0.05", "--readers", "5", "10", "--json")
    assert status == 0
    rows = json.loads(out)["rows"]
    assert [row["readers"] for row in rows] == [5, 10] and rows[0]["cases"] > rows[1]["cases"]
    status, out, _ = run(
        capsys,
        "power",
        "--components",
        "0.0002",
        "0.0008",
        "0.00035",
        "0.00034",
        "0.00024",
        "114",
        "--effect",
        "0.05",
        "--readers",
        "10",
        "--cases",
        "200",
    )
    assert status == 0 and "power" in out


def test_simulate_then_analyze(capsys, tmp_path):
    status, out, _ = run(capsys, "simulate", "--readers", "3", "--normal", "20", "--abnormal", "15", "--seed", "1")
    assert status == 0
    path = tmp_path / "simulated.csv"
    path.write_text(out)
    status, out, _ = run(capsys, "analyze", str(path), "--json")
    document = json.loads(out)
    assert status == 0 and (document["n_normal"], document["n_abnormal"]) == (20, 15)


def test_module_entry_point():
    completed = subprocess.run(
        [sys.executable, "-m", "mrmc.stats", "analyze", VANDYKE, "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[2],
    )
    assert completed.returncode == 0
    assert json.loads(completed.stdout)["rrrc"]["test"]["df2"] == pytest.approx(15.2596745891416)
