#!/usr/bin/env bash
# Software bill of materials (CycloneDX 1.6 JSON) from the locked dependencies.
#
#   deploy/sbom.sh [OUTDIR]      (default docs/security; `make sbom`)
#
# python.cdx.json      what `pip install -r requirements.txt` installs (the Docker image's packages):
#                      the pins and the transitive dependencies pip resolves for them, with licenses
#                      and the dependency graph
# python-dev.cdx.json  the same plus requirements-dev.txt (test and tooling environment)
# npm.cdx.json         every package in viewer_static/package-lock.json; build-only packages carry
#                      the property cdx:npm:package:development=true
# ohif.cdx.json        the prebuilt OHIF Viewer served under /ohif/ (deploy/fetch_ohif.py: version, integrity)
#
# SBOM_PYTHON ("REQUIREMENTS:OUTFILE ...", default the two above) chooses the Python SBOMs; the test
# of the generator itself gives it one small file so that it runs in seconds.
#
# Needs PyPI and the npm registry, nothing else. The Python environment is built in a throwaway
# venv without pip or setuptools, so only what requirements.txt brings in is listed. Output is
# reproducible (no timestamp, no serial number): rerunning gives the same files unless a
# transitive Python dependency, which requirements.txt leaves unpinned, has a new release.
set -euo pipefail
cd "$(dirname "$0")/.."

OUTDIR=${1:-docs/security}
VENV=${VENV:-.venv}
SBOM_PYTHON=${SBOM_PYTHON:-requirements.txt:python.cdx.json requirements-dev.txt:python-dev.cdx.json}
CYCLONEDX_NPM=@cyclonedx/cyclonedx-npm@6.0.1

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

python_sbom() {  # python_sbom REQUIREMENTS OUTFILE: install into the throwaway env, then describe it
    "$VENV/bin/pip" --python "$WORK/env/bin/python" install --quiet --disable-pip-version-check -r "$1"
    "$VENV/bin/cyclonedx-py" environment --output-reproducible --mc-type application \
        -o "$OUTDIR/$2" "$WORK/env/bin/python"
}

"$VENV/bin/python" -m venv --without-pip "$WORK/env"  # the project's Python, as in the Docker image
for pair in $SBOM_PYTHON; do  # each file adds to the same env: the dev SBOM includes the runtime one
    python_sbom "${pair%%:*}" "${pair##*:}"
done

(cd viewer_static && npx --yes "$CYCLONEDX_NPM" --package-lock-only --flatten-components \
    --output-reproducible -o "$OUTDIR/npm.cdx.json" package.json)

"$VENV/bin/python" deploy/fetch_ohif.py --sbom "$OUTDIR/ohif.cdx.json"

echo "SBOMs written to $OUTDIR: ${SBOM_PYTHON//[^ ]*:/} npm.cdx.json ohif.cdx.json"
