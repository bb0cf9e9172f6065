# AlexNet, from paper to practice.
#   make book      set up .venv and the offline data, build the website into _build/html
#   make test      set up, then the default tier: the publishing checks, unit, nbval on every
#                  notebook, strict book build, and the browser check of the built site
#                  (WORKERS=0: serial); GitHub Actions runs it too (.github/workflows/)
#   make test-integration  the whole-system rehearsals (tests marked integration); .ci/run
#                  runs both tiers
#   make publish-check  one version everywhere, the licences, CITATION.cff (cffconvert) and
#                  the GitHub Actions workflows (actionlint)
#   make check     the fast loop while editing: lint and the unit tests of the default tier
#   make execute   refresh the stored outputs of every notebook (quick profile)
#   make assignments  student notebooks and autograder zips under _build/assignments
#                  (SEED=2027: a term's own variant, other numbers, in _build/assignments-seed2027)
#   make grade SUBMISSIONS=dir  grade a folder of submissions (no Docker) into grades.csv and
#                  grades-gradebook.csv, in a clean environment built from the autograders'
#                  declarations and cached in _build/grade-env (GRADES=file; SEED=n for a
#                  variant's autograders; OVERWRITE=1 to replace an existing CSV)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Stored outputs and tests always use the quick profile, on the CPU, with W&B offline.
NB_ENV := ALEXNET_PROFILE=quick CUDA_VISIBLE_DEVICES= WANDB_MODE=offline WANDB_SILENT=true \
	TF_CPP_MIN_LOG_LEVEL=2 CODECARBON_LOG_LEVEL=error PYTHONHASHSEED=0

.PHONY: colab-python pin tag-library test-lower-bounds setup data browser book book-strict test test-integration integration unit nbval site execute assignments grade lint clean \
	publish-check check

setup: $(STAMP) data

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	$(BIN)/python tools/install_kernel.py
	touch $@

# Fashion-MNIST into Keras' cache from Debian's package when offline (apt as root).
data: $(STAMP)
	$(BIN)/python -m alexnet_book.data

# Headless Chromium for the site check, and axe-core (npm, package-lock.json) that the check
# injects into every page from node_modules/: installed here, never fetched while testing.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: sudo apt-get install chromium" >&2; exit 1; fi; }
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "npm is missing: sudo apt-get install npm" >&2; exit 1; fi; }
	@test -f node_modules/axe-core/axe.min.js -a node_modules/.package-lock.json -nt package-lock.json || \
	  npm ci --no-audit --no-fund --ignore-scripts --loglevel=error

book: setup
	$(BIN)/jupyter-book build . --builder html
	@echo "Website built: open file://$(CURDIR)/_build/html/index.html"

# Warnings are errors, so a broken page or notebook fails the build.
book-strict: setup
	rm -rf _build/html _build/.doctrees
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

# Unit tests and nbval run on two pytest-xdist workers, each test file or notebook whole on
# one worker (a file's session fixtures and a notebook's kernel stay together; each chapter's
# smoke run is its own unit), the longest units first (conftest.py). Most of the time is
# processor work (two TensorFlow trainings side by side each run at about half speed), so
# the workers mainly fill the gaps of subprocess and single-threaded tests. (One session for
# unit, nbval and site together measured slower: 1,687 s against about 1,500 s in three, its
# chapters training side by side at the start.) WORKERS=0: serial.
WORKERS ?= 2
XDIST = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)
NBVAL = --nbval $(NOTEBOOKS) --nbval-kernel-name alexnet-book \
	--nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 900

unit: setup
	$(NB_ENV) $(BIN)/python -m pytest tests -m "not site and not integration" --durations=40 $(XDIST)

nbval: setup
	$(NB_ENV) $(BIN)/python -m pytest $(NBVAL) -p no:cacheprovider $(XDIST)

site: setup browser
	$(BIN)/python -m pytest tests -m site

# Each part's seconds are printed at the end, so that a slower part shows, with the processor
# seconds of everything it ran (Linux: this shell's children's, from /proc): how busy the
# cores were. On a shared machine both vary with its speed (README: the same tests an hour
# apart), so compare runs made close together. $(call timed,parts,name) runs the parts.
CPU_SECONDS = awk '{printf "%d", ($$16 + $$17) / 100}' /proc/$$$$/stat 2>/dev/null || echo 0
define timed
	@start=$$(date +%s); times=""; \
	for part in $(1); do \
	  begun=$$(date +%s); used=$$($(CPU_SECONDS)); $(MAKE) --no-print-directory $$part; \
	  times="$$times$${times:+, }$$part $$(( $$(date +%s) - begun )) s"; \
	  times="$$times/$$(( $$($(CPU_SECONDS)) - used )) cpu"; \
	done; \
	echo "make $(2): all passed in $$(( $$(date +%s) - start )) s, $$($(CPU_SECONDS)) processor s ($$times)"
endef

# The default tier: what every change must pass (README: within 15 minutes on two cores).
test: setup browser
	$(call timed,lint publish-check unit nbval book-strict site,test)

# The integration tier: the whole-system rehearsals (tests marked integration: every chapter
# at the smoke profile, the Colab kernel, a class graded in the clean environment, a killed
# claims run resumed, the benchmarks' processes). .ci/run runs it after make test.
integration: setup
	$(NB_ENV) $(BIN)/python -m pytest tests -m integration --durations=20 $(XDIST)

test-integration: setup
	$(call timed,integration,test-integration)

execute: setup
	$(NB_ENV) $(BIN)/python tools/execute_notebooks.py $(NOTEBOOKS)

# Student notebooks and autograder zips from each assignment source (otter assign, no Docker),
# copied to assignments/student/; with SEED, a variant (other numbers, matching hidden tests)
# in _build/assignments-seed$(SEED), leaving assignments/student/ alone.
SEED ?=
assignments: $(STAMP)
	$(BIN)/python tools/assignment_variant.py$(if $(SEED), --seed $(SEED))

# A class's submissions (.ipynb, or the zips of the export cell) graded into one CSV, in the
# clean environment the autograder zips declare (built once into GRADE_ENV, then reused), the
# same as `tools/grade.py` gives. Needs a Python of the declared version with pip (the course's
# .venv when it exists), not the course's setup or data.
AUTOGRADERS = _build/assignments$(if $(SEED),-seed$(SEED))
GRADES ?= grades.csv
GRADE_ENV ?= _build/grade-env
GRADE_PYTHON ?= $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
grade:
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder [SEED=n] [GRADES=grades.csv] [OVERWRITE=1]" >&2; exit 2; }
	@test -d $(AUTOGRADERS) || $(MAKE) --no-print-directory assignments SEED=$(SEED)
	$(GRADE_PYTHON) tools/grade.py $(SUBMISSIONS) --autograders $(AUTOGRADERS) --output $(GRADES) \
	  --environment $(GRADE_ENV)$(if $(OVERWRITE), --overwrite)

# Colab's Python (the version tools/colab-constraints.txt names) for the Colab rehearsal in the
# tests: uv installs a standalone build from GitHub. Without it the rehearsal is skipped with
# a one-line reason; the GitHub workflow runs this before make test.
colab-python: $(STAMP)
	$(BIN)/uv python install $$($(BIN)/python tools/colab_constraints.py --python)

# After changing the library (commit both together): every notebook's Colab cell pins the
# library's content hash and installs the tag library-<hash>.
pin: setup
	$(BIN)/python tools/pin_library.py

# The Pages workflow, on main: tag library-<hash> at the first pushed head that holds each library,
# so the setup cell of a notebook kept from any version finds its own library (no setup: git
# and Python's standard library only).
tag-library:
	$(PYTHON) tools/pin_library.py --tag

lint: setup
	$(BIN)/ruff check alexnet_book tests tools benchmarks notebooks conftest.py

# The fast loop while editing (a few minutes): lint and the default tier's unit tests.
# `make test` and `make test-integration` before committing run everything.
check: setup
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint; \
	$(NB_ENV) $(BIN)/python -m pytest tests -m "not site and not integration" -q -p no:cacheprovider $(XDIST); \
	echo "make check: passed in $$(( $$(date +%s) - start )) s"

# Ready to publish: one version in pyproject.toml, the site's footer, CITATION.cff and
# CHANGELOG.md; the licences stated; CITATION.cff valid (cffconvert); the GitHub Actions
# workflows valid (actionlint) and running only `make test` and `make book`. The two tools
# live in their own venv (requirements-publish.txt says why).
PUBLISH := .venv-publish
$(PUBLISH)/.installed: requirements-publish.txt
	test -x $(PUBLISH)/bin/python || $(PYTHON) -m venv $(PUBLISH)
	$(PUBLISH)/bin/python -m pip install --quiet -r requirements-publish.txt
	touch $@

publish-check: setup $(PUBLISH)/.installed
	REQUIRE_PUBLISH_TOOLS=1 $(BIN)/python -m pytest tests/test_publish.py -p no:cacheprovider -q

# The lowest versions requirements.txt and pyproject.toml allow (uv's lowest-direct
# resolution), in their own venv, then the unit tests and every chapter at the smoke
# profile (the notebooks' code paths at those versions). Run it after changing a bound.
LOWER := .venv-lower
test-lower-bounds:
	rm -rf $(LOWER) && $(PYTHON) -m venv $(LOWER)
	$(LOWER)/bin/python -m pip install --quiet uv
	$(LOWER)/bin/python -m uv pip install --quiet --python $(LOWER)/bin/python \
	  --resolution lowest-direct -r requirements.txt -e .
	$(LOWER)/bin/python -m uv pip list --python $(LOWER)/bin/python | \
	  grep -i -E '^(tensorflow|keras|numpy|pandas|wandb|codecarbon|jax|matplotlib) '
	$(LOWER)/bin/python tools/install_kernel.py
	$(NB_ENV) $(LOWER)/bin/python -m pytest tests -m "not site and not integration" -p no:cacheprovider -q $(XDIST)
	$(NB_ENV) $(LOWER)/bin/python -m pytest tests/test_smoke.py -p no:cacheprovider -q \
	  $(if $(filter 0,$(WORKERS)),,-n $(WORKERS))

clean:
	rm -rf _build runs wandb notebooks/runs
