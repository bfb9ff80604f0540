# Every target installs what it needs into a local virtual environment (.venv).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch: a looser requirement can pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all test-floors bench lint docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test,bench,distributed]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo_moons_checkerboard.py

test: $(STAMP)
	$(BIN)/python -m pytest

test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

# The test suite on the lowest supported versions, pyproject.toml's floors pinned in
# requirements/floors.txt, in a virtual environment of their own. Their torch is a
# CUDA build from PyPI (about 3 GB with its nvidia-* wheels, a few minutes to install),
# which runs on the CPU as well.
FLOORS_VENV ?= .venv-floors
FLOORS_STAMP := $(FLOORS_VENV)/.installed

$(FLOORS_STAMP): pyproject.toml requirements/floors.txt
	test -x $(FLOORS_VENV)/bin/python || $(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS_VENV)/bin/python -m pip install --quiet -r requirements/floors.txt -e ".[test,bench]"
	touch $(FLOORS_STAMP)

test-floors: $(FLOORS_STAMP)
	$(FLOORS_VENV)/bin/python -m pytest

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

# The site in docs/_build/html (warnings are errors), then the doctests of its pages.
DOCS_STAMP := $(VENV)/.installed-docs
SPHINX := $(BIN)/python -m sphinx -W --keep-going -d docs/_build/doctrees

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(SPHINX) -b html docs docs/_build/html
	OMP_NUM_THREADS=1 $(SPHINX) -b doctest docs docs/_build/doctest

clean:
	rm -rf $(VENV) $(FLOORS_VENV) results docs/_build docs/generated docs/auto_examples \
		docs/sg_execution_times.rst
