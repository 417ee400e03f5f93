# MBS-Net Memory Clinic. Quick start on a fresh machine: `make book`, then `make test`.
# Everything runs in a virtual environment in $(VENV) (created by `make venv`), installed from the
# lock: requirements.txt is the loose list of what the project asks for, requirements.lock the
# exact version of every package, compiled from it by `make lock`.

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
HTML    := book/_build/html
# What `make venv` installs, in order: LOCKS with pip's dependency resolution (a complete lock
# resolves to itself; tools/pip_check.py (pip check, less the LOCKS_NO_DEPS packages' own
# requirements, so a venv that has them already passes too) verifies that), then LOCKS_NO_DEPS with
# --no-deps (pinned files whose declared dependencies are knowingly not installed, so not checked),
# then the project itself (editable, no dependencies). A file in either list is a venv input.
LOCK          := requirements.lock
LOCKS         := $(LOCK)
LOCKS_NO_DEPS := requirements-anchors.txt
# `make lock` runs pip-compile from a small venv of its own (so the project's venv stays exactly
# the lock). LOCK_ARGS=--upgrade moves every pin to the newest release allowed, and
# LOCK_ARGS="--upgrade-package numpy" just that one; without it, existing pins are kept.
LOCK_TOOLS_VENV := $(VENV)/lock-tools
LOCK_TOOLS    ?= pip==26.3 pip-tools==7.6.2
LOCK_ARGS     ?=
# pytest-xdist: one worker per notebook file (nbval needs --dist loadfile). 2 by default.
NB_WORKERS ?= 2
# `make notebooks NB=04_the_scan` (or NB=04, or several: NB="04 05") re-executes only those.
NB ?=
NB_SOURCES = $(if $(strip $(NB)),$(foreach n,$(NB),$(call nb_source,$(basename $(notdir $(n))))),\
                 $(wildcard notebooks/[0-9][0-9]_*.py))
nb_source = $(or $(wildcard notebooks/$(1).py),$(wildcard notebooks/$(1)_*.py),\
                 $(error no notebooks/$(1).py or notebooks/$(1)_*.py))
# What the nbval passes test: every notebook, or those NB names (`make test-notebooks NB=07`).
NB_FILES = $(if $(strip $(NB)),$(NB_SOURCES:.py=.ipynb),notebooks/)

# The second nbval pass reruns the notebooks on other CPU code paths, as a reader's machine would
# (another processor, another core count), so that an output that depends on the last bits of CPU
# float arithmetic fails here rather than there. Each variable was checked to change results on
# this machine (AMD EPYC, AVX2, no AVX-512), with tools/kernel_fingerprint.py (`make
# kernel-fingerprint` prints which computations change):
#   ATEN_CPU_CAPABILITY=default    torch's own kernels without SIMD (torch.backends.cpu.
#                                  get_cpu_capability() says DEFAULT, not AVX2). Changes
#                                  elementwise exp/tanh/sigmoid/silu/log1p/softplus, layer_norm,
#                                  and torch.randn and nn.Linear's init after manual_seed.
#   MKL_CBWR=COMPATIBLE            torch's BLAS is MKL (torch.__config__.show(): BLAS_INFO=mkl); its
#                                  conditional-reproducibility branch for any x86 CPU. Changes
#                                  float32 matmul. (MKL_ENABLE_INSTRUCTIONS=SSE4_2 or AVX changed
#                                  nothing on this AMD processor.)
#   ONEDNN_MAX_CPU_ISA=SSE41       oneDNN (MKL-DNN), which runs torch's CPU convolutions, at SSE4.1.
#                                  Changes conv1d and conv2d.
#   NPY_DISABLE_CPU_FEATURES=X86_V3  numpy's SIMD dispatch (numpy.show_runtime(): baseline X86_V2,
#                                  found X86_V3 = AVX2/FMA3) held to its baseline. Changes float32
#                                  and float64 exp/log/sin/tanh. A name numpy does not know here is
#                                  ignored; a baseline one would stop numpy importing.
#   OPENBLAS_CORETYPE=Nehalem      numpy's and scipy's OpenBLAS (threadpoolctl: Haswell kernels
#                                  here) on its SSE kernels. Changes matmul, dot, svd, lstsq.
#                                  Not set where the environment sets it already: some processors
#                                  need the value they are given (and OPENBLAS_L2_SIZE with it).
#   OMP_NUM_THREADS=1              one thread (torch, MKL, and OpenBLAS, which falls back to it),
#                                  as a machine with another core count splits reductions
#                                  differently. Changes torch sum/mean/norm, matmul and more.
#   MBSNET_NATIVE_SCAN=0           the no-grad scan on its torch path instead of its C kernel (built
#                                  with -march=native: another CPU builds other code), as a machine
#                                  without a C compiler runs it. Changes the model's outputs in the
#                                  last bits.
# Not changed by any of these: torch.stft, torch.cumsum, numpy.fft, scipy.signal.sosfilt.
# The x86 ones are left out on other processors. Override it whole: make ... OTHER_CPU_ENV="..."
OTHER_CPU_ENV = ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 MBSNET_NATIVE_SCAN=0 \
    $(if $(filter x86_64 amd64,$(shell uname -m)),MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41 \
        NPY_DISABLE_CPU_FEATURES=X86_V3 $(if $(OPENBLAS_CORETYPE),,OPENBLAS_CORETYPE=Nehalem))

# nbval: every cell re-executed in the venv's kernel and its outputs compared with the stored ones.
# pytest exits 5 when it collects nothing, and make stops on it: no notebooks is a failure.
# (No MPLBACKEND: notebook kernels inherit it, and nbval compares the inline figures.)
NBVAL = env -u MPLBACKEND $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
    --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-cell-timeout=600 \
    $(if $(filter-out 0 1,$(NB_WORKERS)),-n $(NB_WORKERS) --dist loadfile) $(NB_FILES)

.PHONY: help venv lock test test-unit test-notebooks test-notebooks-other-cpu check-notebooks \
        kernel-fingerprint notebooks book lab check-site clean

help:
	@echo "make book        set up .venv, build the site (warnings are errors), print where it is"
	@echo "make test        notebook sync check, unit tests, then every notebook re-executed and compared"
	@echo "                 (nbval), twice: as is, then on other CPU code paths (test-notebooks-other-cpu)"
	@echo "                 test-notebooks and test-notebooks-other-cpu take NB=07_phase3 (or NB=\"05 07\")"
	@echo "make notebooks   re-execute every notebook in place from its source (NB=04_the_scan: just that one)"
	@echo "make check-notebooks   check that every notebooks/NN_name.ipynb matches its source NN_name.py"
	@echo "make lab         open the notebooks in JupyterLab"
	@echo "make check-site  open every page of the built site in headless Chromium"
	@echo "make venv        only create/refresh .venv, from requirements.lock"
	@echo "make lock        recompile requirements.lock from requirements.txt (LOCK_ARGS=--upgrade: newest)"
	@echo "make kernel-fingerprint   which float results OTHER_CPU_ENV (the second nbval pass) changes"
	@echo "make clean       remove build outputs (keeps .venv)"

venv: $(STAMP)

$(STAMP): $(LOCKS) $(LOCKS_NO_DEPS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(addprefix -r ,$(LOCKS))
	$(PY) tools/pip_check.py $(LOCKS_NO_DEPS)
	$(if $(strip $(LOCKS_NO_DEPS)),$(PY) -m pip install --quiet --no-deps $(addprefix -r ,$(LOCKS_NO_DEPS)))
	$(PY) -m pip install --quiet -e . --no-deps
	touch $(STAMP)

# The lock's torch is the CPU-only build (torch==2.13.0+cpu, whose dependencies have no nvidia-*
# packages), which pip finds on this project's machines in the folder pip is configured to look in.
# Where only the PyPI build is found, pip-compile would lock the CUDA build and its nvidia-* wheels:
# the check below refuses that lock. The machine's own index and folder options are not written in.
lock:
	test -x $(LOCK_TOOLS_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_TOOLS_VENV) && \
	    $(LOCK_TOOLS_VENV)/bin/python -m pip install --quiet $(LOCK_TOOLS); }
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS_VENV)/bin/pip-compile --quiet --allow-unsafe \
	    --strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host \
	    $(LOCK_ARGS) --output-file $(LOCK) requirements.txt
	@if grep -n -E '^(nvidia-|triton==)' $(LOCK); then \
	    echo "$(LOCK) has CUDA packages: pip found only the CUDA build of torch, not the CPU one" >&2; \
	    exit 1; fi
	@grep '^torch==' $(LOCK)

test: check-notebooks test-unit test-notebooks test-notebooks-other-cpu

test-unit: venv
	$(PY) -m pytest -q -p no:cacheprovider tests

test-notebooks: venv
	$(NBVAL)

# The same, on other CPU code paths (OTHER_CPU_ENV above).
test-notebooks-other-cpu: venv
	env $(OTHER_CPU_ENV) $(PY) -c "import torch; print('torch CPU capability:', torch.backends.cpu.get_cpu_capability())"
	env $(OTHER_CPU_ENV) $(NBVAL)

# A hash per computation, on this machine's default code paths and under OTHER_CPU_ENV.
kernel-fingerprint: venv
	$(PY) tools/kernel_fingerprint.py
	env $(OTHER_CPU_ENV) $(PY) tools/kernel_fingerprint.py

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
