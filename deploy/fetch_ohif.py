"""Fetch the OHIF Viewer's prebuilt dist (npm package @ohif/app, pinned) for the platform to serve under /ohif/.

    python deploy/fetch_ohif.py [TARGET]      (default viewer_static/ohif/dist; `make ohif`)

Needs npm and the npm registry. The tarball must have the pinned sha512 (the registry's integrity
of that version). OHIF's build loads its chunks, workers, WebAssembly and font from the site root
(webpack's public path "/"); the platform serves it under PUBLIC_PATH, so those references are
rewritten here, each where the pinned build has it, and the fetch fails if one is not found. The
new dist replaces TARGET only when complete. Then set OHIF_DIST=TARGET (deploy/README.md).
"""

import base64
import hashlib
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
    tarball = workdir / result.stdout.strip().splitlines()[-1]
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


def install(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".ohif-") as tmp:
        workdir = Path(tmp)
        staged = workdir / "dist"
        extract_dist(fetch_tarball(workdir), staged)
        serve_under(staged, PUBLIC_PATH)
        if target.exists():
            target.rename(workdir / "previous")
        staged.rename(target)


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else ROOT / "viewer_static" / "ohif" / "dist"
    if shutil.which("npm") is None:
        print("fetch_ohif: npm is not installed", file=sys.stderr)
        return 1
    try:
        install(target.resolve())
    except FetchError as problem:
        print(f"fetch_ohif: {problem}", file=sys.stderr)
        return 1
    print(f"OHIF Viewer {VERSION} in {target}, served under {PUBLIC_PATH}: set OHIF_DIST={target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
