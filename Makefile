# Every target creates and uses .venv from requirements.txt: a fresh machine needs only
# Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast typecheck lab notebooks docs check lint security format clean stop catalogs browser

# The bridge pages' gettext catalogs: each .po compiled to its .mo (never committed), again
# whenever the .po is newer (kore_plaid_nb/bridge/i18n/catalogs.py says how to update them).
LOCALES := kore_plaid_nb/bridge/i18n/locales
MO_FILES := $(patsubst %.po,%.mo,$(wildcard $(LOCALES)/*/LC_MESSAGES/*.po))

# pip speaks for itself (no --quiet): a first install takes minutes and must not look hung.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || { echo "Creating .venv with $(PYTHON) ..."; $(PYTHON) -m venv $(VENV); }
	@echo "Installing the runbook's Python packages into .venv (first run, or after requirements.txt changed: a few minutes) ..."
	@# pip and setuptools as current as the index has them (a new venv brings old ones)
	@$(BIN)/python -m pip install --quiet --upgrade pip setuptools
	@$(BIN)/python -m pip install --progress-bar on -r requirements.txt
	@echo "Installing the runbook itself (kore-plaid, editable) ..."
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@# configurable-http-proxy (JupyterHub's proxy, from the npm registry) into .tools/; the
	@# runbook itself does not need it, so a machine without npm only gets a warning
	@bash tools/install_proxy.sh || echo "warning: JupyterHub's proxy is not installed (see above); only the training-session test needs it"
	@# mermaid (npm) into .tools/: the documentation site serves it to draw its diagrams offline
	@bash tools/install_docs_assets.sh || echo "warning: mermaid is not installed (see above); only make docs needs it"
	@# axe-core (npm) into .tools/: the accessibility tests inject it into the bridge's pages
	@bash tools/install_axe.sh || echo "warning: axe-core is not installed (see above); only the page accessibility tests need it"
	@touch $(STAMP)
	@echo "Installed: .venv is ready."

install: $(STAMP) catalogs

## make browser: Debian's Chromium for the browser tests (installed as root; else one line saying
## how, or SKIP_BROWSER=1 to run make test without the browser tests, said in its summary)
browser:
	@bash tools/install_browser.sh

## make catalogs: compile the pages' translations (.po -> .mo); the targets below need them
catalogs: $(MO_FILES)

$(LOCALES)/%.mo: $(LOCALES)/%.po | $(STAMP)
	@$(BIN)/pybabel --quiet compile -i $< -o $@

## make run: execute the whole runbook headless (embedded mode unless .env has Plaid keys)
run: $(STAMP) catalogs
	$(BIN)/kore-plaid run

# The tests' Python processes (xdist workers, services, kernels) keep and reuse their compiled
# bytecode (__pycache__/, pytest's rewritten test modules) even where the environment turns its
# writing off: compiling it all again costs each worker ~10 s of CPU before its first test.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

## make test: ruff, then the whole test suite (unit, conformance, integration, browser,
## harness, and the notebooks under strict nbval)
# -p tests.early_plugin: loaded before nbval, so that jsonschema skips its RFC 3987 grammar
test: lint typecheck catalogs browser
	$(PYTEST) -p tests.early_plugin -n $${PYTEST_WORKERS:-3} tests notebooks --nbval --nbval-sanitize-with notebooks/sanitize.cfg

# make test-fast leaves out the notebooks' and the fuzz suite's pytest plugins (~3 s of
# imports in every process) and does not import the files it leaves out (conftest.py)
FAST_PLUGINS_OFF := -p no:nbval -p no:schemathesis -p no:hypothesispytest

## make test-fast: the inner loop (under a minute): ruff, mypy, then the unit and contract tests
## (no notebooks, no browser, no PostgreSQL, no service processes; make test runs those too)
test-fast: lint typecheck catalogs
	$(PYTEST) -n $${PYTEST_WORKERS:-4} --dist load -p no:cacheprovider $(FAST_PLUGINS_OFF) --fast tests

## make typecheck: mypy --strict over the package (settings in pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/mypy

## make lab: open the runbook in JupyterLab, on 00_start_here (LAB_PORT=8888 by default;
## NO_BROWSER=1: print the URL instead of opening a browser, e.g. on a remote machine)
LAB_PORT ?= 8888
lab: $(STAMP) catalogs
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks --port=$(LAB_PORT) \
		--LabApp.default_url=/lab/tree/00_start_here.ipynb \
		$(if $(NO_BROWSER),--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root)

## make notebooks: re-execute the notebooks and store their (sanitized) outputs
notebooks: $(STAMP) catalogs
	$(BIN)/kore-plaid run --store-outputs

## make docs: the documentation site, static HTML in build/site/ (tools/build_docs.py, MkDocs
## Material; committed notebook outputs, nothing executed or fetched; warnings are errors)
docs: $(STAMP) catalogs
	$(BIN)/python tools/build_docs.py

## make check: security (bandit + pip-audit), then make test (lint + tests)
check: security test

## make security: bandit (skips explained in pyproject.toml) and pip-audit over requirements.txt
## (pip-audit needs the package index; offline it says NOT AUDITED and fails unless AUDIT_OFFLINE_OK=1)
security: $(STAMP)
	$(BIN)/bandit -q -c pyproject.toml -r kore_plaid_nb
	$(BIN)/python tools/audit_dependencies.py requirements.txt

lint: $(STAMP)
	$(BIN)/ruff check kore_plaid_nb tests tools benchmarks conftest.py
	$(BIN)/ruff format --check kore_plaid_nb tests tools benchmarks conftest.py

format: $(STAMP)
	$(BIN)/ruff format kore_plaid_nb tests
	$(BIN)/ruff check --fix kore_plaid_nb tests

stop: $(STAMP)
	$(BIN)/kore-plaid stop

clean:
	rm -rf build .pytest_cache
