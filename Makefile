# Set-up and everyday commands. Every target bootstraps the virtual environment when needed.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
# make book WORKERS=4: chapters as tasks on a local Dask cluster of 4 processes (1 thread each)
WORKERS ?=
# results of a paper-profile run (its summaries/), if any, for the reproducibility page
PAPER_RESULTS ?= results-paper
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the "Does it reproduce?" page, book/executed/reproducibility.md, from results/summaries/*.json
REPORT = $(PY) -m l2lib report --results results \
	$(if $(wildcard $(PAPER_RESULTS)/summaries),--paper-results $(PAPER_RESULTS))

.PHONY: venv test lint book chapters html lab bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[book,dev]'
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check l2lib tests benchmarks book/chapters book/api

test: lint
	$(PY) -m pytest

chapters: $(STAMP)
	$(PY) -m l2lib run --profile $(PROFILE) $(if $(WORKERS),--workers $(WORKERS))
	$(REPORT)

html: $(STAMP)
	$(REPORT)
	$(VENV)/bin/jupyter-book build book --path-output .
	@echo "The book is in _build/html/index.html"

book: chapters html

lab: $(STAMP)
	$(PY) -m pip install --quiet -e '.[lab]'
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VENV)/bin/jupyter lab book/chapters

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_training.py --device cpu
	$(PY) benchmarks/bench_curvature.py --device cpu
	$(PY) benchmarks/bench_regimes.py --device cpu --n-train 3000 --n-betas 3
	$(PY) benchmarks/bench_concurrency.py

clean:
	rm -rf _build book/_build book/executed test-artifacts
