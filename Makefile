# Two commands for a fresh machine (Python 3.11, pip):
#   make reproduce   # venv + install + run the pipeline on config/config.yaml
#   make test        # venv + install + ruff + pytest (the command CI runs)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= all

.PHONY: reproduce test lint clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

reproduce: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks workflow/scripts

test: lint
	$(BIN)/python -m pytest

clean-venv:
	rm -rf $(VENV)
