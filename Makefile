# The two commands of the README: `make run` and `make test`. Every install takes the exact
# versions of constraints.txt (scripts/freeze_constraints.py says how to regenerate it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast test-sqlite install lint schema documents clean bench bench-quick \
	bench-peers

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/cdp keys init
	$(BIN)/cdp migrate
	$(BIN)/cdp demo-data --if-empty
	$(BIN)/cdp demo-tokens
	CDP_WECHAT_SANDBOX=$${CDP_WECHAT_SANDBOX:-true} $(BIN)/cdp serve

test: $(STAMP)
	$(BIN)/python -m pytest

# Everything but the tests marked slow (servers, clusters, full demo data, Chromium).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -k "not postgresql"

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick --output $(or $(BENCH_OUTPUT),bench/RESULTS-quick.md)

# `me` side by side alone: trusted, generic, stock executor, hand-written, PostGraphile.
bench-peers: $(STAMP)
	$(BIN)/python -m bench.peers

lint: $(STAMP)
	$(BIN)/ruff check cdp tests migrations bench scripts
	$(BIN)/ruff format --check cdp tests migrations bench scripts
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/cdp export-schema > schema/schema.graphql

documents: $(STAMP)
	$(BIN)/cdp documents manifest cdp/h5/documents.graphql > cdp/documents/pages.json
	$(BIN)/cdp documents console

clean:
	rm -rf $(VENV) var .pytest_cache
