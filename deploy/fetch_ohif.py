"""Fetch the OHIF Viewer's prebuilt dist (npm package @ohif/app, pinned) for the platform to serve under /ohif/.

    python deploy/fetch_ohif.py [TARGET]      (default viewer_static/ohif/dist; `make ohif`)
    python deploy/fetch_ohif.py TARGET --tarball PATH   (a tarball packed elsewhere: the Docker build)
    python deploy/fetch_ohif.py --sbom PATH   (its CycloneDX entry for docs/security/; `make sbom`)

Needs npm and the npm registry, unless given the tarball. The tarball must have the pinned sha512
(the registry's integrity of that version). OHIF's build loads its chunks, workers, WebAssembly and
font from the site root (webpack's public path "/"); the platform serves it under PUBLIC_PATH, so those references are
rewritten here, each where the pinned build has it, and the fetch fails if one is not found. The
new dist replaces TARGET only when complete. Then set OHIF_DIST=TARGET (deploy/README.md).
"""

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "@ohif/app"
VERSION = "3.13.2"
INTEGRITY = "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA=="
PUBLIC_PATH = "/ohif/"  # config/urls.py mounts the viewer there
DIST_PREFIX = "package/dist/"
# (file pattern, text as built, how many files have it): webpack's runtime public path in the
# app bundle and in each worker bundle, and the font the stylesheet loads.
ROOT_REFERENCES = (
    ("*.js", '__webpack_require__.p = "/";', 8),
    ("app.bundle.css", "url(/", 1),
)


class FetchError(Exception):
    pass


def fetch_tarball(workdir: Path) -> Path:
    result = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", str(workdir), "--silent"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise FetchError(f"npm pack {PACKAGE}@{VERSION} failed: {result.stderr.strip()[-2000:]}")
    return verified(workdir / result.stdout.strip().splitlines()[-1])


def verified(tarball: Path) -> Path:
    digest = hashlib.sha512(tarball.read_bytes()).digest()
    if f"sha512-{base64.b64encode(digest).decode()}" != INTEGRITY:
        raise FetchError(f"{tarball.name} does not have the pinned integrity {INTEGRITY}")
    return tarball


def extract_dist(tarball: Path, destination: Path) -> None:
    """Only package/dist/, with tarfile's "data" filter (no links out, no device files, no absolute paths)."""
    with tarfile.open(tarball) as archive:
        members = []
        for member in archive.getmembers():
            if member.name.startswith(DIST_PREFIX):
                member.name = member.name[len(DIST_PREFIX):]
                members.append(member)
        if not any(m.name == "index.html" for m in members):
            raise FetchError(f"{tarball.name} has no {DIST_PREFIX}index.html")
        try:
            archive.extractall(destination, members=members, filter="data")
        except tarfile.FilterError as refused:
            raise FetchError(f"{tarball.name}: {refused}") from None


def serve_under(dist: Path, public_path: str) -> None:
    for pattern, text, expected_files in ROOT_REFERENCES:
        replacement = text.replace("/", public_path, 1)
        changed = []
        for path in sorted(dist.glob(pattern)):
            content = path.read_text(encoding="utf-8")
            if text in content:
                path.write_text(content.replace(text, replacement), encoding="utf-8")
                changed.append(path.name)
        if len(changed) != expected_files:
            raise FetchError(f"{text!r} was expected in {expected_files} files of {pattern}, found in {changed}")


def install(target: Path, tarball: Path | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".ohif-") as tmp:
        workdir = Path(tmp)
        staged = workdir / "dist"
        extract_dist(verified(tarball) if tarball else fetch_tarball(workdir), staged)
        serve_under(staged, PUBLIC_PATH)
        if target.exists():
            target.rename(workdir / "previous")
        staged.rename(target)


def sbom() -> dict:
    """A CycloneDX 1.6 document naming the pinned build that the platform serves (and the Docker image holds).

    The prebuilt dist bundles its own dependencies; the package's integrity identifies all of them.
    """
    algorithm, digest = INTEGRITY.split("-", 1)
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "application", "name": "mrmc-ohif-viewer", "bom-ref": "ohif-dist"}},
        "components": [{
            "type": "application", "bom-ref": f"pkg:npm/%40ohif/app@{VERSION}", "group": "@ohif", "name": "app",
            "version": VERSION, "purl": f"pkg:npm/%40ohif/app@{VERSION}",
            "licenses": [{"license": {"id": "MIT"}}],
            "hashes": [{"alg": "SHA-512", "content": base64.b64decode(digest).hex()}],
            "description": f"OHIF Viewer prebuilt dist, served under {PUBLIC_PATH} ({algorithm} integrity "
                           f"{INTEGRITY})",
        }],
        "dependencies": [{"ref": "ohif-dist", "dependsOn": [f"pkg:npm/%40ohif/app@{VERSION}"]}],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", type=Path, default=ROOT / "viewer_static" / "ohif" / "dist")
    parser.add_argument("--tarball", type=Path, help="the package tarball, instead of npm pack")
    parser.add_argument("--sbom", type=Path, help="write the CycloneDX entry there and do nothing else")
    args = parser.parse_args(argv[1:])
    if args.sbom:
        args.sbom.write_text(json.dumps(sbom(), indent=2) + "\n")
        return 0
    if args.tarball is None and shutil.which("npm") is None:
        print("fetch_ohif: npm is not installed", file=sys.stderr)
        return 1
    try:
        install(args.target.resolve(), args.tarball)
    except FetchError as problem:
        print(f"fetch_ohif: {problem}", file=sys.stderr)
        return 1
    print(f"OHIF Viewer {VERSION} in {args.target}, served under {PUBLIC_PATH}: set OHIF_DIST={args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
