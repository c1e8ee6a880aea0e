# `make demo` and `make test` work on a fresh machine with Python >= 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-loaded lint bench chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mountcomm demo

# The suite runs on TEST_WORKERS processes (pytest-xdist); TEST_WORKERS=0 runs it in one.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The suite with three busy loops on the cores and every timeout tripled.
test-loaded: $(STAMP)
	$(BIN)/python tests/under_load.py -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check python tests bench chaos
	$(BIN)/ruff format --check python tests bench chaos
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Not part of `make test`: kills processes and floods ports for a few minutes.
chaos: $(STAMP)
	$(BIN)/python -m chaos

clean:
	rm -rf $(VENV) build python/*.egg-info
