# Entry points for users and CI. Every target installs what it needs into .venv first, so a
# fresh clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STORE ?= demo-store
REPORTS ?= reports

.PHONY: help install install-test report demo test lint clean

help:
	@echo "make report   build the demo store (if missing) into $(STORE)/"
	@echo "make test     install test dependencies, lint, and run the whole test suite"
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

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(STORE)/snapshots: | $(VENV)/.installed
	$(BIN)/awareness-analysis demo --out $(STORE)

report: $(VENV)/.installed $(STORE)/snapshots
	@echo "Demo store ready in $(STORE)/ (rendered reports arrive in a later release)."

demo: $(VENV)/.installed
	rm -rf $(STORE)
	$(BIN)/awareness-analysis demo --out $(STORE)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check awareness_analysis tests
	$(BIN)/ruff format --check awareness_analysis tests

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(STORE) .pytest_cache .ruff_cache .hypothesis
