# `make demo` and `make test` work on a fresh machine with Python >= 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench chaos clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mountcomm demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

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
