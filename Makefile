# The README's two commands are `make run` and `make test`; everything else helps them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	mkdir -p .state
	$(BIN)/sentinel run -c config/demo.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.rule_eval
	$(BIN)/python -m bench.notify_latency
	$(BIN)/python -m bench.status_page
	$(BIN)/python -m bench.http_checks --store both
	$(BIN)/python -m bench.store_writes

clean:
	rm -rf $(VENV) .state .mypy_cache .pytest_cache .ruff_cache
