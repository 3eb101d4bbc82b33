"""The layer contracts in pyproject.toml ([tool.importlinter]) hold, and each of them can fail.

Imports point down: interfaces (api, dicomweb, pages, tasks, ...) -> services -> selectors/permissions
-> models -> errors; ``mrmc`` imports neither Django nor the app; no cycles between sibling modules.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("studies", "mrmc", "config")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
        cwd=project, env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False,
    )


def test_the_codebase_keeps_every_contract():
    completed = lint_imports(ROOT)
    assert completed.returncode == 0, completed.stdout[-4000:]
    assert "0 broken" in completed.stdout


@pytest.fixture
def copy_of_the_code(tmp_path):
    """The packages and the contracts, copied so that a forbidden import can be added to them."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _add_import(project: Path, module: str, statement: str) -> None:
    path = project / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = project / module.replace(".", "/") / "__init__.py"
    path.write_text(path.read_text() + f"\n{statement}  # added by the contract test\n")


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        ("studies.models", "from studies.services import audit", "studies: interfaces -> services"),
        ("studies.services.reads", "from studies.api import reading", "studies: interfaces -> services"),
        # only the job service may queue a task (HackSoft's pattern): any other service importing one breaks
        ("studies.services.reads", "from studies.tasks import run_job", "studies: interfaces -> services"),
        ("studies.permissions", "from studies import selectors", None),  # siblings may share: kept
        ("mrmc.stats.fom", "import django", "mrmc is a library"),
        ("mrmc.dicom.deid", "from studies.models import Case", "mrmc is a library"),
        ("mrmc.stats.power", "from mrmc.dicom import deid", "independent of each other"),
        ("studies.models.bounds", "from studies.models import study", "no import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(copy_of_the_code, module, statement, broken):
    _add_import(copy_of_the_code, module, statement)
    completed = lint_imports(copy_of_the_code)
    if broken is None:
        assert completed.returncode == 0, completed.stdout[-4000:]
        return
    assert completed.returncode == 1, completed.stdout[-4000:]
    broken_lines = [line for line in completed.stdout.splitlines() if " BROKEN" in line]  # "(1 ignored import)" may follow
    assert any(broken in line for line in broken_lines), completed.stdout[-4000:]
