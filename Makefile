# Two commands for a newcomer: `make demo` and `make test`. Both bootstrap uv and a local .venv
# from nothing but Python 3.11, pip, make and git.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION ?= 0.13.9
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
export SODA_CORE_TELEMETRY_ENABLED := false
export DO_NOT_TRACK := 1
# Python and pytest cache compiled modules (and pytest its assertion-rewritten tests) only when
# bytecode may be written; with PYTHONDONTWRITEBYTECODE=1 in the caller's environment every run
# compiles and rewrites all ~200 test modules again: collection took 9.8 s of CPU instead of 4.6 s.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install browser alertmanager office demo test check lint unit bench test-distributed test-bi bi clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# --compile-bytecode: every Airflow task, dbt build and gate is a new Python process; without
# .pyc files (e.g. PYTHONDONTWRITEBYTECODE=1, read-only installs) each one compiles Airflow's,
# dbt's and pandas' sources again: ~12 s instead of ~5 s to import them on this machine.
$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed  ## create .venv with every dependency (locked)

browser:  ## Debian's headless Chromium and a CJK font, for the report's browser test
	bash tests/report/ensure_chromium.sh

alertmanager:  ## Debian's Prometheus Alertmanager, for the alert lifecycle's end-to-end test
	bash tests/alerts/ensure_alertmanager.sh

office:  ## Debian's LibreOffice Calc (headless) and poppler's pdftotext, for the workbook's print test
	bash tests/report/ensure_libreoffice.sh

lint: install  ## ruff, the import contract (lint-imports), mypy on core and ingest, sqlfluff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(if $(strip $(SQL_MODELS)),$(BIN)/sqlfluff lint $(SQL_MODELS) --dialect duckdb --templater jinja --processes 2,@echo "sqlfluff: no model changed since main")

# The models sqlfluff lints: all of them (make lint, make test); in make check only those changed
# since main (sqlfluff takes about 70 s of CPU for all of them, more than the whole fast loop).
SQL_MODELS ?= dbt_project/models
CHANGED_MODELS = $(shell base=$$(git merge-base HEAD main 2>/dev/null || echo HEAD); \
	{ git diff --name-only --diff-filter=d $$base -- 'dbt_project/models/*.sql'; \
	  git ls-files --others --exclude-standard -- 'dbt_project/models/*.sql'; } | sort -u)

check: install  ## the fast loop (< 60 s): lint, and the tests that need no dbt build, Airflow DB, browser or office
	$(MAKE) --no-print-directory lint SQL_MODELS="$(CHANGED_MODELS)"
	$(BIN)/pytest $(PYTEST_WORKERS) -q -m "not slow and not distributed and not bi" --hypothesis-profile=check

# The whole suite on two pytest-xdist workers: much of it waits on child processes (dbt, Airflow,
# Chromium, LibreOffice, the API server), and two workers overlap that waiting. --dist worksteal:
# tests take from milliseconds to minutes, and a worker that runs dry takes half of the other's
# queue, so one long test near the end does not leave a worker idle (--dist load sends fixed
# chunks; no test here needs --dist loadgroup). The shared builds are made once for both workers
# (build_once in tests/conftest.py). PYTEST_WORKERS= (empty) runs the suite in one process.
PYTEST_WORKERS ?= -n 2 --dist worksteal

unit: install  ## the test suite only
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not distributed and not bi"

test: install browser alertmanager office lint  ## install, lint and run the whole suite (no external services needed)
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not distributed and not bi"

test-distributed: install  ## the distributed profile (Celery, PostgreSQL, Redis) against the loopback services
	$(BIN)/pytest -m distributed tests/distributed

test-bi: install browser  ## BI clients from PyPI in their own environments: DuckDB 1.4, Apache Superset (~15 min)
	SCORECARD_BI_ARTIFACTS=$(CURDIR)/var/test-artifacts $(BIN)/pytest -m bi tests/bi

bi: install  ## Apache Superset on the published snapshot (own environment under the data dir), with the dashboard
	$(BIN)/scorecard bi

demo: install  ## the main job, start to finish (VIA_API=<department>: its files through the submission API; PORT=<n>: Airflow's port, default 8080)
	$(BIN)/scorecard demo $(if $(VIA_API),--via-api $(VIA_API),) $(if $(PORT),--port $(PORT),)

bench: install  ## benchmarks (quick sizes; FULL=1 for full sizes)
	$(BIN)/python -m bench.run $(if $(FULL),--full,)

clean:  ## remove runtime state (var/) and build outputs
	rm -rf var dbt_project/target dbt_project/logs
