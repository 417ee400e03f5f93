# MBS-Net Memory Clinic. Quick start on a fresh machine: `make book`, then `make test`.
# Everything runs in a virtual environment in $(VENV) (created by `make venv`).

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
HTML    := book/_build/html
# pytest-xdist: one worker per notebook file (nbval needs --dist loadfile). 2 by default.
NB_WORKERS ?= 2

.PHONY: help venv test test-unit test-notebooks book lab check-site clean

help:
	@echo "make book        set up .venv, build the site (warnings are errors), print where it is"
	@echo "make test        unit tests, then every notebook re-executed and compared (nbval)"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make check-site  open every page of the built site in headless Chromium"
	@echo "make venv        only create/refresh .venv"
	@echo "make clean       remove build outputs (keeps .venv)"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -e . --no-deps
	touch $(STAMP)

test: test-unit test-notebooks

test-unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests

# pytest exits 5 when it collects nothing, and make stops on it: no notebooks is a failure.
test-notebooks: venv
	env -u MPLBACKEND $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600 \
	    $(if $(filter-out 0 1,$(NB_WORKERS)),-n $(NB_WORKERS) --dist loadfile) notebooks/

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
