# Quickstart: `make demo` runs the bot on embedded defaults, `make test` runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DATA ?= ./data

.PHONY: install install-test demo test bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet '.[all]'

install-test: $(BIN)/python
	$(BIN)/pip install --quiet '.[test]'

demo: install
	TEAMBOT_DATA_DIR=$(DEMO_DATA) $(BIN)/teambot ingest README.md samples --channel demo
	TEAMBOT_DATA_DIR=$(DEMO_DATA) $(BIN)/teambot chat --channel demo

test: install-test
	$(BIN)/python -m pytest

bench: install-test
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) data .pytest_cache
