# Set-up and everyday commands. Every target bootstraps the virtual environment when needed.
PYTHON ?= python3
VENV ?= .venv
PROFILE ?= quick
# The chapters run side by side as tasks on a local Dask cluster of WORKERS processes, one
# thread each; by default one per usable core (at most 6, one per chapter). WORKERS=1 runs them
# one after another, each with every core as torch threads, which helps these small nets little
# (chapter 3's training step on a 2-core VM: 13 % faster on two threads than on one)
WORKERS ?= $(shell $(PYTHON) -c "import os; n = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1; print(min(n, 6))")
# a second results folder for the reproducibility page's second column: the committed
# reference runs (results-reference/<chapter>/summary.json), or e.g. a paper-profile run's folder
PAPER_RESULTS ?= results-reference
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the "Does it reproduce?" page, book/executed/reproducibility.md, from results/summaries/*.json
REPORT = $(PY) -m l2lib report --results results \
	$(if $(wildcard $(PAPER_RESULTS)/summaries $(PAPER_RESULTS)/*/summary.json),--paper-results $(PAPER_RESULTS))

# MathJax served from the built book (no CDN, so formulas render offline): npm's package, once
MATHJAX_VERSION := 3.2.2
MATHJAX := book/_vendor/mathjax
# JupyterLab and jupytext for editing the chapters, installed once
LAB_STAMP := $(VENV)/.lab-installed

.PHONY: venv test lint book chapters html lab bench clean mathjax reference-check

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[book,dev]'
	@touch $@

venv: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check l2lib tests benchmarks book/chapters book/api book/_ext

test: lint mathjax
	$(PY) -m pytest

# Chapter 3 first, alone on every core: the longest quick chapter, whose sweep chapter 5 reads,
# and one that slows down beside another (2-core Intel Xeon VM, 7 Dec 2026: 703 s on one thread
# beside the other chapters, 335-350 s alone on two). Then the others, longest first, side by
# side. Every chapter is named in one of the two lines (tests/test_book_batch.py checks it).
chapters: $(STAMP)
	$(PY) -m l2lib run regimes --profile $(PROFILE)
	$(PY) -m l2lib run jamming pathfinder onset vae curvature --profile $(PROFILE) $(if $(filter-out 1,$(WORKERS)),--workers $(WORKERS))
	$(REPORT)

$(MATHJAX)/tex-mml-chtml.js:
	@command -v npm >/dev/null || { echo "make mathjax needs npm (Debian: apt-get install npm)"; exit 1; }
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)
	cd $(MATHJAX) && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null \
		&& tar xzf mathjax-$(MATHJAX_VERSION).tgz --strip-components=1 package/LICENSE \
		&& tar xzf mathjax-$(MATHJAX_VERSION).tgz --strip-components=2 package/es5/tex-mml-chtml.js \
			package/es5/input package/es5/output/chtml package/es5/a11y package/es5/ui \
			package/es5/sre package/es5/adaptors \
		&& rm mathjax-$(MATHJAX_VERSION).tgz

mathjax: $(MATHJAX)/tex-mml-chtml.js

html: $(STAMP) mathjax
	$(REPORT)
	$(VENV)/bin/jupyter-book build book --path-output .
	@echo "The book is in _build/html/index.html"

book: chapters html

# CI runs this before `make test`: the quick book on two 1-thread workers, its verdicts
# against the committed expectations, every committed reference run's slice recomputed, and a
# report of reference results whose code changed since (reported; the slices decide)
REFERENCE := results-reference
reference-check: $(STAMP) mathjax
	$(MAKE) book PROFILE=quick WORKERS=$(or $(WORKERS),2)
	$(PY) -m l2lib reference check --profile quick --results results \
		--expectations $(REFERENCE)/expectations.json
	$(PY) -m l2lib reference check --profile reference --results $(REFERENCE) \
		--expectations $(REFERENCE)/expectations.json
	$(PY) -m l2lib reference slices --out $(REFERENCE)
	$(PY) -m l2lib reference stale --out $(REFERENCE) || echo "(reported, not a failure)"

# A save in JupyterLab leaves an unchanged chapter byte-identical: jupytext.toml (found only
# inside the server's root, hence root_dir = the repository) drops jupytext's version lines, and
# the kernel's display name is the one the chapters' headers record ("Python 3").
$(LAB_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[lab]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	@mkdir -p $(VENV)/share/jupyter/lab/settings
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
		> $(VENV)/share/jupyter/lab/settings/overrides.json
	@touch $@

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ContentsManager.preferred_dir=book/chapters

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) benchmarks/bench_training.py --device cpu
	$(PY) benchmarks/bench_curvature.py --device cpu
	$(PY) benchmarks/bench_regimes.py --device cpu --n-train 3000 --n-betas 3
	$(PY) benchmarks/bench_concurrency.py
	$(PY) benchmarks/bench_jamming_check.py

clean:
	rm -rf _build book/_build book/executed test-artifacts
