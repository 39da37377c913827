# Two commands for a fresh machine (Python 3.11, pip):
#   make reproduce   # venv + install + run the pipeline on config/config.yaml
#   make test        # venv + install + lint (ruff, snakefmt, snakemake --lint) + pytest (CI)
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= all

.PHONY: reproduce test lint config-reference clean-venv

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

reproduce: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)

# config/README.md from the schemas' descriptions (tests/test_config_reference.py checks it)
config-reference: $(BIN)/.installed
	$(BIN)/python -m atomprobe.config_reference

# ruff (lint and format) on the Python code, snakefmt on the rule files, `snakemake --lint` on the workflow as the
# default config parses it (from the repository root, like a run). Each exits non-zero on a
# finding (Snakemake 9: --lint exits 1 when it prints lints); all three run, then any failure
# fails the target.
lint: $(BIN)/.installed
	@status=0; \
	for check in "$(BIN)/ruff check src tests benchmarks tools workflow/scripts" \
	             "$(BIN)/ruff format --check src tests benchmarks tools workflow/scripts" \
	             "$(BIN)/snakefmt --check --compact-diff Snakefile workflow/" \
	             "$(BIN)/snakemake --lint"; do \
	    echo "$$check"; $$check || status=1; \
	done; \
	exit $$status

# one pytest worker per core; a test module stays on one worker (its module fixtures run once).
# The SLURM test runs alone afterwards: beside the other worker its first job stayed pending.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not cluster"
	$(BIN)/python -m pytest -m cluster

clean-venv:
	rm -rf $(VENV)
