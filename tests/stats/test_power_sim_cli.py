"""``python -m mrmc.stats power --simulate``: power of a planned design by simulation from a pilot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mrmc.stats.cli import main

VANDYKE = str(Path(__file__).parent / "data" / "vandyke.csv")
COMPONENTS = ("--components", "0.0002", "0.0008", "0.00035", "0.00034", "0.00024", "114")


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_split_plot_power_from_a_pilot(capsys):
    status, out, _ = run(
        capsys, "power", "--pilot", VANDYKE, "--effect", "0.05", "--readers", "4", "8", "--cases", "120",
        "--simulate", "--design", "split_plot", "--groups", "2", "--missing", "0.03", "--studies", "400", "--json",
    )
    assert status == 0
    output = json.loads(out)
    assert (output["design"], output["studies"]) == ("split_plot", 400)
    assert output["or_misfit"] < 1e-5 and output["roe_metz"]["structure"]["var_R"] > 0
    first, second = output["rows"]
    assert (first["readers"], second["readers"]) == (4, 8) and first["power"] < second["power"]
    assert first["mc_se"] == pytest.approx((first["power"] * (1 - first["power"]) / 400) ** 0.5)


def test_ai_versus_readers_from_conjectured_components(capsys):
    status, out, _ = run(
        capsys, "power", *COMPONENTS, "--auc", "0.85", "--var-r", "0.001", "--effect", "0.04", "--readers", "6",
        "--cases", "100", "--simulate", "--design", "ai_vs_readers", "--studies", "300",
    )
    assert status == 0
    assert out.startswith("ai_vs_readers power by simulation, effect 0.04")
    assert "readers   6  cases      100  power" in out and "+/-" in out


def test_froc_power(capsys):
    status, out, _ = run(
        capsys, "power", *COMPONENTS, "--effect", "0.5", "--readers", "4", "--cases", "60", "--simulate",
        "--design", "froc", "--studies", "200", "--json",
    )
    assert status == 0 and json.loads(out)["rows"][0]["power"] > 0.05


@pytest.mark.parametrize(
    ("extra", "message"),
    [(("--cases", "100"), "--auc and --var-r"), ((), "--simulate needs --cases")],
)
def test_simulation_inputs_that_are_missing(capsys, extra, message):
    status, _, err = run(capsys, "power", *COMPONENTS, "--effect", "0.05", "--simulate", *extra)
    assert status == 2 and message in err
