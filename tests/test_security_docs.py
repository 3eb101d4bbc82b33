"""The SBOMs in docs/security/ (`make sbom`) list what the locked dependency files install, and the
recorded audit covers the packages of the SBOM.

The expected packages come from requirements*.txt and viewer_static/package-lock.json, never from
the SBOMs themselves: a pin changed without `make sbom`, or a generator that drops packages, fails here.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT, skip_or_fail

COMMITTED = ROOT / "docs" / "security"
NPM_DEV = "cdx:npm:package:development"


def pins(requirements_file: Path) -> dict[str, str]:
    """{canonical name: version} of a pinned requirements file, following its `-r` includes."""
    pinned = {}
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            pinned |= pins(requirements_file.parent / line.removeprefix("-r").strip())
        elif line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"{requirements_file.name}: {line} is not pinned"
            pinned[canonicalize_name(requirement.name)] = specifier.version
    return pinned


def python_components(sbom: Path) -> dict[str, str]:
    return {canonicalize_name(c["name"]): c["version"] for c in json.loads(sbom.read_text())["components"]}


def npm_components(sbom: Path) -> set[tuple[str, str, bool]]:
    """(package name with scope, version, build-only) of every component of the npm SBOM."""
    return {
        (
            f"{c['group']}/{c['name']}" if c.get("group") else c["name"],
            c["version"],
            {"name": NPM_DEV, "value": "true"} in c.get("properties", []),
        )
        for c in json.loads(sbom.read_text())["components"]
    }


def locked_npm_packages() -> set[tuple[str, str, bool]]:
    packages = json.loads((ROOT / "viewer_static" / "package-lock.json").read_text())["packages"]
    return {
        (path.rsplit("node_modules/", 1)[1], entry["version"], entry.get("dev", False))
        for path, entry in packages.items()
        if path  # "" is the viewer itself
    }


def missing_or_different(expected: dict[str, str], listed: dict[str, str]) -> dict[str, tuple[str, str | None]]:
    return {name: (version, listed.get(name)) for name, version in expected.items() if listed.get(name) != version}


def check_python_sboms(sbom_dir: Path):
    runtime_pins = pins(ROOT / "requirements.txt")
    dev_pins = pins(ROOT / "requirements-dev.txt")
    runtime = python_components(sbom_dir / "python.cdx.json")
    dev = python_components(sbom_dir / "python-dev.cdx.json")
    assert missing_or_different(runtime_pins, runtime) == {}, "python.cdx.json: (pinned, listed); run `make sbom`"
    assert missing_or_different(dev_pins, dev) == {}, "python-dev.cdx.json: (pinned, listed); run `make sbom`"
    tools_in_runtime = sorted(set(dev_pins) - set(runtime_pins) & set(runtime))
    assert tools_in_runtime == [], "test and tooling pins must not appear in the runtime SBOM"


def check_npm_sbom(sbom_dir: Path):
    listed = npm_components(sbom_dir / "npm.cdx.json")
    locked = locked_npm_packages()
    assert {"missing": locked - listed, "not locked": listed - locked} == {"missing": set(), "not locked": set()}


def test_python_sboms_list_every_pin_with_its_version():
    check_python_sboms(COMMITTED)


def test_npm_sbom_lists_every_locked_package_and_marks_build_only_ones():
    check_npm_sbom(COMMITTED)


def test_recorded_python_audit_covers_every_package_of_the_sbom():
    audited = json.loads((COMMITTED / "audit" / "pip-audit.json").read_text())["dependencies"]
    listed = python_components(COMMITTED / "python-dev.cdx.json")
    assert {canonicalize_name(d["name"]) for d in audited} == set(listed), "run `make audit-deps` after `make sbom`"


@pytest.mark.slow
def test_the_sbom_generator_describes_what_the_locked_files_install(tmp_path):
    """The generator itself (PyPI and the npm registry needed), on one small pinned file for Python: installing
    every pin takes minutes, and `make sbom` does that; the tests above hold its output against the pins."""
    if shutil.which("npx") is None:
        skip_or_fail("npx (Node 20) is needed to generate the npm SBOM")
    small = tmp_path / "requirements-small.txt"  # a pin of the runtime file with no dependencies of its own
    small.write_text(f"segno=={pins(ROOT / 'requirements.txt')['segno']}\n")
    out = tmp_path / "sboms"
    generated = subprocess.run([ROOT / "deploy" / "sbom.sh", out], cwd=ROOT, check=True, capture_output=True, text=True,
                               env={**os.environ, "SBOM_PYTHON": f"{small}:python-small.cdx.json"})
    assert python_components(out / "python-small.cdx.json") == pins(small)
    assert not (out / "python.cdx.json").exists() and "python-small.cdx.json npm.cdx.json" in generated.stdout
    check_npm_sbom(out)
    # The npm SBOM comes from the lock file alone, so a rerun must reproduce the committed one.
    assert (out / "npm.cdx.json").read_text() == (COMMITTED / "npm.cdx.json").read_text()
    assert (out / "ohif.cdx.json").read_text() == (COMMITTED / "ohif.cdx.json").read_text()


def test_ohif_sbom_names_the_viewer_the_platform_serves():
    from deploy import fetch_ohif

    assert json.loads((COMMITTED / "ohif.cdx.json").read_text()) == fetch_ohif.sbom(), "run `make sbom`"
