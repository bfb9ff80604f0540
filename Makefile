# Every target installs what it needs into a local virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: a looser requirement can pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all bench lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo_moons_checkerboard.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

# The quick settings of every benchmark; tables and plots land in benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python benchmarks/mi_gaussian.py --quick
	$(BIN)/python benchmarks/ot_gaussian.py --quick
	$(BIN)/python benchmarks/ot_hard.py --quick --report ot_hard_quick
	$(BIN)/python benchmarks/moons_checkerboard.py --quick
	$(BIN)/python benchmarks/ebm_digits.py --quick
	$(BIN)/python benchmarks/speed.py --quick

lint: $(STAMP)
	$(BIN)/ruff check flowdre_sklearn tests examples benchmarks

docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	$(BIN)/python -m sphinx -b html docs docs/_build/html

clean:
	rm -rf $(VENV) results docs/_build
