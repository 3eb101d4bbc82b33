# make demo: set up everything and serve the demo on http://127.0.0.1:8000
# make test: the whole test suite (unit, integration, e2e; services it needs are started by the tests)
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test venv viewer ohif migrate serve lint bench load stack-up stack-smoke stack-down stack-status sbom audit-deps clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-r.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	# The library itself, editable: python -m mrmc.stats (and mrmc-stats) from any directory.
	$(VENV)/bin/pip install -q --no-deps -e .
	# The R cross-checks are optional: rpy2 only where R is installed (ABI mode needs no R headers).
	if command -v R >/dev/null; then RPY2_CFFI_MODE=ABI $(VENV)/bin/pip install -q -r requirements-r.txt; fi
	touch $@

# The reading workstation: Cornerstone3D bundled by Vite from the committed lock file.
viewer: viewer_static/dist/.vite/manifest.json

viewer_static/dist/.vite/manifest.json: viewer_static/package.json viewer_static/package-lock.json $(shell find viewer_static/src viewer_static/index.html viewer_static/vite.config.js 2>/dev/null)
	cd viewer_static && npm ci --no-audit --no-fund --loglevel=error && npx vite build --logLevel warn

# The OHIF Viewer, a third-party DICOMweb viewer, for /ohif/: the pinned prebuilt @ohif/app, fetched
# with npm and made to load its files from /ohif/; served with OHIF_DIST=$(OHIF_DIST_DIR) (deploy/README.md).
# npm packs files with a 1985 date: index.html is touched so that it is newer than the script once fetched.
OHIF_DIST_DIR := viewer_static/ohif/dist
ohif: $(OHIF_DIST_DIR)/index.html

$(OHIF_DIST_DIR)/index.html: deploy/fetch_ohif.py | venv
	$(PY) deploy/fetch_ohif.py $(OHIF_DIST_DIR)
	touch $@

migrate: venv
	$(PY) manage.py migrate --noinput

demo: venv viewer migrate
	$(PY) manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload

# Two pytest-xdist workers (a file's tests stay together, so its module fixtures are built once);
# PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2
test: venv viewer ohif
	node --test viewer_static/tests
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) benchmarks/bench_stats.py

# 50 simulated readers against gunicorn + a throwaway PostgreSQL cluster, a worker killed and the
# database restarted mid-run; e.g. make load LOAD_ARGS="--runs 3"
load: venv
	$(PY) benchmarks/load_readers.py $(LOAD_ARGS)

# The production topology as plain processes on loopback (deploy/README.md, "Local production stack"):
# PostgreSQL, Redis, Orthanc, two Celery workers and beat, gunicorn, nginx with TLS. State in
# STACK_DIR (default: $LOCAL_STACK_DIR or /tmp/mrmc-local-stack); stack-smoke is the end-to-end check.
STACK_DIR ?= $(or $(LOCAL_STACK_DIR),/tmp/mrmc-local-stack)
stack-up: venv viewer
	deploy/local-stack up --dir $(STACK_DIR)

stack-smoke: venv
	deploy/local-stack smoke --dir $(STACK_DIR)

stack-status: venv
	deploy/local-stack status --dir $(STACK_DIR)

stack-down: venv
	deploy/local-stack down --dir $(STACK_DIR)

# Supply chain (SECURITY.md): CycloneDX SBOMs of the locked Python and npm dependencies, and
# pip-audit / npm audit over them, recorded under docs/security/. Need PyPI and the npm registry.
sbom: venv
	VENV=$(VENV) deploy/sbom.sh docs/security

audit-deps: venv
	$(PY) deploy/audit_deps.py docs/security

clean:
	rm -rf $(VENV) data staticfiles tests/artifacts
