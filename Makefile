# lesiongan: two commands, `make demo` and `make test`; `make venv` alone builds .venv,
# `make docs` the documentation site (site/index.html).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP    := $(PY) -m pip --disable-pip-version-check -q
# Tests never download anything.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: venv test demo docs lint format bench clean

venv: $(STAMP)

# This machine's pip config lists local wheel folders that do not all exist; sed drops
# the resulting warnings (pipefail keeps pip's exit status).
# Rebuilt only when the dependency files change: a no-op when up to date.
$(STAMP): pyproject.toml requirements-pin.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "lesiongan needs Python >= 3.10"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-pin.txt 2>&1 | sed "/is ignored: it is neither/d"
	$(PIP) install -e '.[test]' 2>&1 | sed "/is ignored: it is neither/d"
	$(PY) -c 'import lesiongan, torch, torchvision, pytest'
	@touch $(STAMP)

test: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -n auto -q

demo: venv
	$(VENV)/bin/lesiongan demo

# The documentation site (MkDocs + Material, API pages from docstrings) into site/; --strict
# turns every warning (a broken link, a page missing from the nav) into a failure.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: venv
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

bench: venv
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_synth.py
	$(PY) benchmarks/bench_gan_train.py --config configs/gan-demo.yaml --resolution 8 16 32
	$(PY) benchmarks/bench_classify.py --sizes 32 64 224
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_nn.py
	$(PY) benchmarks/bench_turing.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-out benchmarks/_work site
