# MBS-Net Memory Clinic. Quick start on a fresh machine: `make book`, then `make test`.
# Everything runs in a virtual environment in $(VENV) (created by `make venv`).

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
HTML    := book/_build/html
# pytest-xdist: one worker per notebook file (nbval needs --dist loadfile). 2 by default.
NB_WORKERS ?= 2
# `make notebooks NB=04_the_scan` (or NB=04, or several: NB="04 05") re-executes only those.
NB ?=
NB_SOURCES = $(if $(strip $(NB)),$(foreach n,$(NB),$(call nb_source,$(basename $(notdir $(n))))),\
                 $(wildcard notebooks/[0-9][0-9]_*.py))
nb_source = $(or $(wildcard notebooks/$(1).py),$(wildcard notebooks/$(1)_*.py),\
                 $(error no notebooks/$(1).py or notebooks/$(1)_*.py))

.PHONY: help venv test test-unit test-notebooks check-notebooks notebooks book lab check-site clean

help:
	@echo "make book        set up .venv, build the site (warnings are errors), print where it is"
	@echo "make test        notebook sync check, unit tests, then every notebook re-executed and compared (nbval)"
	@echo "make notebooks   re-execute every notebook in place from its source (NB=04_the_scan: just that one)"
	@echo "make check-notebooks   check that every notebooks/NN_name.ipynb matches its source NN_name.py"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make check-site  open every page of the built site in headless Chromium"
	@echo "make venv        only create/refresh .venv"
	@echo "make clean       remove build outputs (keeps .venv)"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-anchors.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-anchors.txt
	$(PY) -m pip install --quiet -e . --no-deps
	touch $(STAMP)

test: check-notebooks test-unit test-notebooks

test-unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests

# pytest exits 5 when it collects nothing, and make stops on it: no notebooks is a failure.
test-notebooks: venv
	env -u MPLBACKEND $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600 \
	    $(if $(filter-out 0 1,$(NB_WORKERS)),-n $(NB_WORKERS) --dist loadfile) notebooks/

# Each notebooks/NN_name.ipynb is paired with its jupytext source NN_name.py (notebooks/jupytext.toml).
check-notebooks: venv
	$(PY) tools/check_notebook_sync.py

# Sync each pair (the newer file wins, so an edited .py updates the notebook's cells), execute the
# notebook in place with the venv's kernel, then sync again so the .py is not older than its
# notebook. No MPLBACKEND, as in test-notebooks: the figures must render inline. The widget state
# nbconvert saves is dropped: a widget rendered from saved state, with no kernel behind it, moves
# its sliders and nothing else (notebook 3's calculator carries a static copy that works without
# a kernel instead; see mbsnet/widgets.py). nbclient cannot skip storing it while an Output widget
# captures, hence the separate step.
notebooks: venv
	@set -e; for src in $(NB_SOURCES); do \
	    nb="$${src%.py}.ipynb"; \
	    echo "=== $$nb"; \
	    $(VENV)/bin/jupytext --sync "$$src"; \
	    env -u MPLBACKEND JUPYTER_PATH="$(abspath $(VENV))/share/jupyter" \
	        $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.kernel_name=python3 "$$nb"; \
	    $(PY) -c 'import nbformat, sys; nb = nbformat.read(sys.argv[1], 4); \
	        nb.metadata.pop("widgets", None) is not None and nbformat.write(nb, sys.argv[1])' "$$nb"; \
	    $(VENV)/bin/jupytext --sync "$$nb"; \
	done
	$(PY) tools/check_notebook_sync.py

book: venv
	$(PY) tools/make_toc.py
	tools/fetch_web_assets.sh book/_webassets
	$(PY) book/make_figures.py
	$(VENV)/bin/jupyter-book build book/ -W -n --keep-going
	@echo "The book is at file://$(abspath $(HTML))/index.html"

# (JupyterLab refuses to start as root unless told to; containers often run as root)
lab: venv
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/

check-site: book
	$(PY) tools/check_site.py $(HTML) --screenshots book/_build/screenshots

clean:
	rm -rf book/_build book/_generated book/_webassets book/_toc.yml .pytest_cache
