# Entry points for users and CI. Every target installs what it needs into .venv first, so a
# fresh clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STORE ?= demo-store
REPORTS ?= reports

# JupyterLab refuses to run as root unless told; CI and containers often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install install-test install-lab install-browser report demo lab test test-browser \
	screenshots bench lint clean

help:
	@echo "make report   render the shared HTML reports into $(REPORTS)/ (demo store if missing)"
	@echo "make lab      open JupyterLab on notebooks/ with the project's environment"
	@echo "make test     install test dependencies, lint, and run the whole test suite"
	@echo "make test-browser  real-browser tests (installs Debian chromium and Playwright)"
	@echo "make screenshots   regenerate the README images from the browser tests"
	@echo "make bench    run the benchmarks in benchmarks/"
	@echo "make demo     rebuild the demo store from scratch"
	@echo "make clean    remove .venv, the demo store and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

$(VENV)/.installed-lab: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[lab]"
	touch $@

$(VENV)/.installed-browser: pyproject.toml $(VENV)/.installed-test $(VENV)/.installed-lab
	$(BIN)/python -m pip install --quiet -e ".[browser]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

install-lab: $(VENV)/.installed-lab

$(STORE)/snapshots: | $(VENV)/.installed
	$(BIN)/awareness-analysis demo --out $(STORE)

# The main job: shared HTML reports of the store (the demo organisation unless STORE is given).
report: $(VENV)/.installed $(STORE)/snapshots
	$(BIN)/awareness-analysis report --store $(STORE) --out $(REPORTS) $(REPORT_ARGS)

demo: $(VENV)/.installed
	rm -rf $(STORE)
	$(BIN)/awareness-analysis demo --out $(STORE)

# The project's JupyterLab defaults (jupyter/overrides.json: no "official Jupyter news?" prompt,
# no update check), installed as this venv's setting overrides; a setting the user saves wins.
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/awareness-analysis.json

$(LAB_OVERRIDES): jupyter/overrides.json $(VENV)/.installed-lab
	mkdir -p $(dir $@)
	cp jupyter/overrides.json $@

# Notebooks open $(STORE) through AWARENESS_STORE; the kernel is this .venv's python3.
lab: $(VENV)/.installed-lab $(LAB_OVERRIDES) $(STORE)/snapshots
	AWARENESS_STORE=$(abspath $(STORE)) $(BIN)/jupyter lab --notebook-dir=notebooks $(ALLOW_ROOT)

# Debian chromium (apt, as root) and Playwright; idempotent, never `playwright install`.
install-browser: $(VENV)/.installed-browser
	scripts/install-browser.sh $(VENV)

# Headless Chromium against the rendered reports and a live JupyterLab; not part of `make test`.
test-browser: install-browser $(LAB_OVERRIDES)
	$(BIN)/python -m pytest tests_browser -q

# Regenerate the README images (docs/images/) from the browser tests' screenshots.
screenshots: test-browser
	$(BIN)/python scripts/screenshots.py

# Speed, memory and request-count benchmarks; each prints figures and ratios from one run.
bench: $(VENV)/.installed-test
	@for script in benchmarks/bench_*.py; do \
		module=benchmarks.$$(basename $$script .py); \
		echo "== $$module"; $(BIN)/python -m $$module || exit 1; \
	done

LINTED := awareness_analysis tests tests_browser benchmarks scripts conftest.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(STORE) .pytest_cache .ruff_cache .hypothesis
