# The commands of the README:
#   make tutorial        set up (if needed), get the data (if needed), run every notebook, print a summary
#   make test            set up (if needed), lint, unit tests (slow tier included) and nbval over every
#                        notebook and solution, as this machine, in one run on every core
#   make test-portable   nbval under the two other emulated CPUs (numpy SIMD paths, OpenBLAS kernels,
#                        threads); `make test` has covered this machine, so nothing runs twice
#   make test-fast       a contributor's quick loop: lint and the unit tests without the slow tier (< 1 min)
#   make test-routes     the install and launch routes: a wheel, the Colab cell, make lab and the book in a browser
#   make lab             JupyterLab on localhost, rooted at the repository, opening notebook 01 (token on)
#   make book            the web edition: a static site of the stored notebooks and solutions, in build/book/
#
# Set-up is a virtual environment in .venv: the student set (requirements.txt) for make tutorial,
# lab, data and book, the contributor set (requirements-dev.txt) for everything else.  To use an
# environment you already have (conda, Binder), pass VENV= and PY=python, e.g.
#   make test VENV= PY=python
# Another interpreter:  make test PYTHON=python3.12 VENV=.venv-3.12

PYTHON ?= python3
VENV ?= .venv
ifeq ($(VENV),)
PY ?= python
STAMP :=
else
PY := $(VENV)/bin/python
endif
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]-*.ipynb))
SOLUTIONS := $(sort $(wildcard solutions/[0-9][0-9]-*.ipynb))
# Tests write the notebooks' result tables to a scratch folder, so they change no tracked file;
# only `make notebooks` refreshes the committed ones in notebooks/results/.
SCRATCH := $(CURDIR)/build/results
# Tests run on every core (pytest-xdist): one worker per core, and a test file or a notebook is
# the unit of distribution (a notebook's cells run in order in one kernel).  The survey of
# notebook 07 starts worker processes of its own; XD_MAX_PROCESSES caps them so that the
# pytest workers and the survey's together do not oversubscribe the cores.
CORES := $(shell $(PYTHON) -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)' 2>/dev/null || echo 1)
JOBS ?= $(CORES)
SURVEY_PROCESSES := $(shell echo $$(( $(CORES) / $(JOBS) > 1 ? $(CORES) / $(JOBS) : 1 )))
PYTEST := XD_RESULTS_DIR=$(SCRATCH) MPLBACKEND=Agg XD_MAX_PROCESSES=$(SURVEY_PROCESSES) \
          $(PY) -m pytest -p no:cacheprovider -n $(JOBS) --dist loadfile
NBVAL_OPTIONS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# The longest notebooks first, so that no worker is left with a long one at the end (pytest
# collects a file named twice only once).
LONGEST_FIRST := notebooks/07-survey-of-all-clusters.ipynb solutions/08-known-truth-lab-solutions.ipynb \
                 solutions/02-likelihood-and-optimisation-solutions.ipynb notebooks/05-posterior-sampling-emcee.ipynb
NBVAL := $(PYTEST) $(NBVAL_OPTIONS) $(wildcard $(LONGEST_FIRST))
# The machines `make test-portable` emulates besides this one (see README, "Tests and reproducibility").
AVX2_MACHINE := OPENBLAS_CORETYPE=Haswell NPY_DISABLE_CPU_FEATURES=X86_V4,AVX512_ICL
SSE3_MACHINE := OPENBLAS_CORETYPE=Prescott OPENBLAS_NUM_THREADS=1 NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL

.PHONY: env check-python data tutorial test test-fast test-portable test-routes lint unit nbval lab book notebooks benchmark clean

# The Python versions the pins install on and CI tests (keep in step with pyproject.toml's
# requires-python, the README and the workflow's matrix; tests/test_environments.py checks).
PYTHON_MIN := 3.11
PYTHON_MAX := 3.14

# Two package sets: the student set (requirements.txt: what the notebooks need) for
# `make tutorial`, `make lab` and `make data`, and the contributor set (requirements-dev.txt:
# that plus tests, lint and hooks) for everything else, `make env` and `make test` included.
# The sizes in the banners were measured on Linux x86-64 with Python 3.11 (README.md, Prerequisites).
STUDENT_GOALS := tutorial lab data book check-python clean
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(STUDENT_GOALS),$(MAKECMDGOALS)),)
PACKAGE_SET := student
endif
endif
PACKAGE_SET ?= dev
STAMP := $(if $(VENV),$(VENV)/.installed-$(PACKAGE_SET))

env: $(STAMP)

check-python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "No '$(PYTHON)' found. This tutorial needs Python $(PYTHON_MIN) to $(PYTHON_MAX): see README.md, Prerequisites."; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; lo, hi = (tuple(map(int, x.split("."))) for x in ("$(PYTHON_MIN)", "$(PYTHON_MAX)")); sys.exit(0 if lo <= v <= hi else f"This tutorial is tested on Python $(PYTHON_MIN) to $(PYTHON_MAX), but $(PYTHON) is {v[0]}.{v[1]}: install one of those and run e.g. make tutorial PYTHON=python3.12 (README.md, Prerequisites)")'

$(VENV)/.installed-student: requirements.txt pyproject.toml | check-python
	@echo "==> Setting up $(VENV) with the student set (requirements.txt): about 140 MB downloaded from PyPI,"
	@echo "    about 690 MB on disk. This happens once and takes 1-3 minutes on a good connection."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	@touch $@
	@echo "==> $(VENV) is ready (student set, $$(du -sh $(VENV) 2>/dev/null | cut -f1) on disk)."

$(VENV)/.installed-dev: requirements-dev.txt requirements-book.txt $(VENV)/.installed-student
	@echo "==> Adding the contributor set (requirements-dev.txt: tests, lint, hooks, the web edition's tools)"
	@echo "    to $(VENV): about 60 MB more downloaded, about 240 MB more on disk."
	$(PY) -m pip install -r requirements-dev.txt
	@touch $@
	@echo "==> $(VENV) is ready (contributor set, $$(du -sh $(VENV) 2>/dev/null | cut -f1) on disk)."

data: env
	@$(PY) -c "import helpers; print('data:', helpers.fetch_data())"

tutorial: data
	MPLBACKEND=Agg XD_MAX_PROCESSES=$(SURVEY_PROCESSES) $(PY) tools/run_notebooks.py --jobs $(JOBS) --out build/executed $(NOTEBOOKS)

lint: env
	$(PY) -m ruff check .

unit: env
	$(PYTEST) tests

nbval: data
	$(NBVAL) $(NOTEBOOKS) $(SOLUTIONS)

# One parallel pytest run: unit tests (the slow tier included) and nbval as this machine.
test: lint data
	$(NBVAL) -m "not routes" tests $(NOTEBOOKS) $(SOLUTIONS)

# The routes into the tutorial, each in a fresh environment or a real browser: `pip install .` used from
# another folder, the Colab cell then notebook 01, `make lab` and the web edition in headless chromium
# (skipped where chromium is missing).  Minutes of installing, not of our code: CI runs them after make test.
test-routes: data
	$(PYTEST) -m routes tests

# The quick loop: lint and the unit tests without the slow tier (calibration over many mocks,
# end-to-end surveys) and without nbval.  `make test` runs everything.
test-fast: lint data
	$(PYTEST) -m "not slow" tests
	@echo "==> test-fast skipped the slow tier listed above (calibration over many mocks, end-to-end"
	@echo "    surveys) and nbval over the notebooks and solutions (make nbval); make test runs all of them."

# `make test` has run nbval as this machine; these are the two other machines.
test-portable: data
	@echo "==> nbval as an AVX2 machine without AVX-512 (OpenBLAS Haswell kernels)"
	$(AVX2_MACHINE) $(NBVAL) $(NOTEBOOKS) $(SOLUTIONS)
	@echo "==> nbval as an SSE3-only machine with one BLAS thread (OpenBLAS Prescott kernels)"
	$(SSE3_MACHINE) $(NBVAL) $(NOTEBOOKS) $(SOLUTIONS)

# JupyterLab for a room: the server is rooted at the repository, so that every relative link of
# the notebooks works (../solutions/..., ../README.md), and the printed URL opens notebook 01.
# Jupyter refuses to run as root (containers, some workshop VMs); opt in explicitly with ALLOW_ROOT=1.
# LAB_OPTIONS passes more options to jupyter lab (e.g. LAB_OPTIONS="--port=8890 --no-browser").
LAB_NOTEBOOK := notebooks/01-data-inspection.ipynb
lab: data
	@if [ "$$(id -u 2>/dev/null)" = "0" ] && [ "$(ALLOW_ROOT)" != "1" ]; then \
	    echo "You are root. Jupyter refuses to run as root, because a notebook can run any command"; \
	    echo "with your rights. Better: run as a normal user. In a container or a throw-away VM you may"; \
	    echo "opt in with:  make lab ALLOW_ROOT=1"; exit 1; fi
	$(PY) -m jupyter lab --ip=127.0.0.1 $(if $(filter 1,$(ALLOW_ROOT)),--allow-root) \
	    --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(LAB_NOTEBOOK) $(LAB_OPTIONS)

# The web edition: a static site of the notebooks and solutions as stored (nothing is executed,
# nothing is fetched; book/conf.py), in build/book/.  -W: a broken cross-reference fails the build.
BOOK_STAMP := $(if $(VENV),$(VENV)/.installed-book)

$(VENV)/.installed-book: requirements-book.txt $(VENV)/.installed-student
	@echo "==> Adding the web-edition tools (requirements-book.txt: Sphinx, myst-nb, the book theme, MathJax)"
	@echo "    to $(VENV): about 30 MB more downloaded."
	$(PY) -m pip install -r requirements-book.txt
	@touch $@

book: $(BOOK_STAMP)
	rm -rf build/book
	$(PY) -m sphinx -b html -q -W --keep-going -c book . build/book
	@echo "==> The web edition is in build/book/: open build/book/index.html"

# Maintainers: re-execute the notebooks and solutions in place and commit their outputs
# (and the result tables in notebooks/results/).
notebooks: data
	MPLBACKEND=Agg $(PY) tools/run_notebooks.py --inplace $(NOTEBOOKS) $(SOLUTIONS)

benchmark: env
	$(PY) benchmarks/bench_em.py --survey
	$(PY) benchmarks/bench_xd.py

clean:
	rm -rf build .pytest_cache .ruff_cache .hypothesis
