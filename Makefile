# The two commands of the README:
#   make tutorial   set up (if needed), get the data (if needed), run every notebook, print a summary
#   make test       set up (if needed), lint, unit tests, and nbval over every notebook
# and `make lab` to open JupyterLab on localhost (token authentication on).
#
# Set-up is a virtual environment in .venv built from requirements.txt.  To use an
# environment you already have (conda, Binder), pass VENV= and PY=python, e.g.
#   make test VENV= PY=python

PYTHON ?= python3
VENV ?= .venv
ifeq ($(VENV),)
PY ?= python
STAMP :=
else
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
endif
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]-*.ipynb))
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

.PHONY: env data tutorial test lint unit nbval lab notebooks benchmark clean

env: $(STAMP)

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

data: env
	$(PY) -c "import helpers; print('data:', helpers.fetch_data())"

tutorial: data
	MPLBACKEND=Agg $(PY) tools/run_notebooks.py --out build/notebooks $(NOTEBOOKS)

lint: env
	$(PY) -m ruff check helpers.py xdtutorial tests benchmarks tools notebooks

unit: env
	MPLBACKEND=Agg $(PY) -m pytest tests

nbval: data
	MPLBACKEND=Agg $(PY) -m pytest $(NBVAL) $(NOTEBOOKS)

test: lint
	MPLBACKEND=Agg $(PY) -m pytest tests $(NBVAL) $(NOTEBOOKS)

lab: data
	$(PY) -m jupyter lab --ip=127.0.0.1 notebooks/

# Maintainers: re-execute the notebooks in place and commit their outputs.
notebooks: data
	MPLBACKEND=Agg $(PY) tools/run_notebooks.py --inplace $(NOTEBOOKS)

benchmark: env
	$(PY) benchmarks/bench_em.py

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
