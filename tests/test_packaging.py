"""``pip install .[stats]`` gives the statistics library alone: no Django, the CLI, and tests/stats green.

The library is installed from a copy of the sources into a fresh virtual environment (from PyPI or the
local wheel cache), so nothing from the project's own environment can leak in.
"""

import json
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VANDYKE = ROOT / "tests" / "stats" / "data" / "vandyke.csv"
STATS_TEST_TOOLS = ("pytest", "hypothesis", "statsmodels")  # statsmodels: an independent reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stats_only_python(tmp_path_factory):
    """The interpreter of a fresh venv holding only ``mrmc[stats]`` and the statistics tests' tools."""
    scratch = tmp_path_factory.mktemp("stats-only")
    source = scratch / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "mrmc", source / "mrmc", ignore=shutil.ignore_patterns("__pycache__"))
    environment = scratch / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}[stats]",
          *_pins_of(STATS_TEST_TOOLS)], cwd=scratch, timeout=600)
    return python


def _pins_of(names):
    """``name==version`` for each name, as requirements-dev.txt pins it."""
    lines = (ROOT / "requirements-dev.txt").read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in lines if line.split("==")[0].strip().lower() in names]
    assert len(pins) == len(names), f"requirements-dev.txt pins {pins}, expected {names}"
    return pins


def _run(argv, *, cwd, timeout=300):
    completed = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                               check=False)
    assert completed.returncode == 0, f"{argv[:4]} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    return completed.stdout


def test_the_stats_extra_installs_no_django(stats_only_python, tmp_path):
    probe = "import importlib.util as u, mrmc; print(mrmc.__file__, u.find_spec('django'), u.find_spec('studies'))"
    location, django, studies = _run([stats_only_python, "-c", probe], cwd=tmp_path).split()
    assert "site-packages" in location
    assert (django, studies) == ("None", "None")


def test_the_installed_cli_prints_the_published_vandyke_result(stats_only_python, tmp_path):
    # OR-DBM MRMC 2.51 on VanDyke (shared/refs/published/ORDBM251_VanDyke_trap_jackknife.txt):
    # "F(1,15) = 4.46, p = .0517"; error term df 15.26; 1 - 2: -0.04380 (SE 0.02075), CI (-0.08796, 0.00036)
    text = _run([stats_only_python, "-m", "mrmc.stats", "analyze", VANDYKE], cwd=tmp_path)
    assert "F(1, 15.26) = 4.4563, p = 0.0517" in text
    assert "1 - 2: -0.04380 (SE 0.02075, t df 15.26, p 0.0517), 95% CI [-0.08796, 0.00036]" in text
    document = json.loads(_run([stats_only_python, "-m", "mrmc.stats", "analyze", VANDYKE, "--json"], cwd=tmp_path))
    assert round(document["rrrc"]["test"]["df2"], 2) == 15.26


def test_tests_stats_pass_without_django(stats_only_python, tmp_path):
    """The statistics suite outside the Django test configuration (the R cross-checks skip), but for its slow
    simulations: the same code runs them in the project's own run."""
    empty_ini = tmp_path / "pytest.ini"
    empty_ini.write_text("[pytest]\n")
    pytest_bin = Path(stats_only_python).parent / "pytest"
    output = _run([pytest_bin, "-q", "-p", "no:cacheprovider", "-c", empty_ini, "--rootdir", ROOT,
                   "--confcutdir", ROOT / "tests" / "stats", "-W", "error", "-m", "not slow", ROOT / "tests" / "stats"],
                  cwd=tmp_path, timeout=1200)
    assert " passed" in output and " failed" not in output, output[-2000:]


def test_the_project_requirements_pin_what_the_extras_need():
    """The Django project's pins satisfy the library's extras (one set of versions in production)."""
    from packaging.requirements import Requirement

    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            pins[requirement.name.lower()] = next(iter(requirement.specifier)).version
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("stats", "dicom"):
        for spec in extras[extra]:
            requirement = Requirement(spec)
            assert requirement.name.lower() in pins, f"{requirement.name} of [{extra}] is not pinned"
            assert requirement.specifier.contains(pins[requirement.name.lower()]), (extra, spec)


def test_the_project_environment_runs_the_cli_from_any_directory(tmp_path):
    """make venv installs the library (editable) into the project's environment too."""
    text = _run([sys.executable, "-m", "mrmc.stats", "analyze", VANDYKE], cwd=tmp_path)
    assert "F(1, 15.26) = 4.4563, p = 0.0517" in text
