"""benchmarks/monitoring_simulation.py, run small: the figures it prints for the seeded field year."""

from benchmarks.monitoring_simulation import main


def test_the_script_prints_its_figures(capsys):
    main(["--seed", "2026", "--null-runs", "5", "--replications", "3"])
    printed = capsys.readouterr().out
    assert "in-control ARL 2001, out-of-control ARL 29.4 positives" in printed
    assert "20 site-years" in printed and "3 seeded years with the change" in printed
    month_7 = next(line for line in printed.splitlines() if line.startswith("    7 "))
    assert month_7.split()[3] == "yes"
