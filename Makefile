# Two commands for everything:  `make lab`  (learn)  and  `make test`  (check).
# Both create .venv when it is missing and install the course into it first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NBVAL  := --nbval-lax --nbval-current-env --nbval-cell-timeout=900

.PHONY: install lab test test-fast notebooks benchmark gpu-check clean-notebooks clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip setuptools wheel
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	@$(PY) -c "import torch; print('torch', torch.__version__, '| CUDA available:', torch.cuda.is_available())"
	@touch $(STAMP)

install: $(STAMP)

# JupyterLab refuses to run as root unless told: containers and classroom machines often run as root.
ROOT_FLAG := $(shell [ "$$(id -u 2>/dev/null)" = "0" ] && echo --allow-root)

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=chapters $(ROOT_FLAG)

# Every unit test, then every notebook executed top to bottom by nbval. The browser test needs
# Debian's chromium: the script installs it when it can, otherwise that one test is skipped.
test: install
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest $(NBVAL) tests chapters

# Unit tests only (no notebooks): the quick loop while writing library code.
test-fast: install
	$(PY) -m pytest tests

notebooks: install
	$(PY) -m pytest $(NBVAL) chapters

# Speed claims live here, as ratios measured in one run (not in timed unit tests).
# attention: pass/fail requirements; scaling and gpt: tables only (docs/performance.md), one thread each:
# with NumPy's and PyTorch's thread pools both active on a small CPU, they starve each other.
benchmark: install
	$(PY) -m bigmodel_lib.benchmarks.attention
	$(PY) -m bigmodel_lib.benchmarks.scaling --threads 1
	$(PY) -m bigmodel_lib.benchmarks.gpt --threads 1

# Every GPU path of the course in one run (needs a CUDA GPU; writes its figures into docs/performance.md).
gpu-check: install
	$(PY) -m bigmodel_lib.benchmarks.gpu_check

# Strip outputs and execution counts before committing a notebook you ran.
clean-notebooks: install
	$(PY) -m bigmodel_lib.notebook_tools strip chapters

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
