# The README's two commands are `make run` and `make test`; everything else helps them.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP   := $(VENV)/.installed

.PHONY: run test system-tools lint typecheck pytest bench clean

# The runtime alone (what `make run` needs); the dev extras (linters, test tools,
# about 500 MB more) are added on top only for the targets that need them.
$(RUNTIME): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(RUNTIME)

$(STAMP): $(RUNTIME)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(RUNTIME)
	mkdir -p .state
	$(BIN)/sentinel run -c config/demo.yaml

# promtool and Chromium from Debian's packages (installed as root, else the command to run).
system-tools:
	bash scripts/system-tools.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) system-tools
	$(BIN)/pytest

test: system-tools lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python -m bench.rule_eval
	$(BIN)/python -m bench.slo_cost
	$(BIN)/python -m bench.slo_daemon
	$(BIN)/python -m bench.notify_latency
	$(BIN)/python -m bench.chat_latency
	$(BIN)/python -m bench.voice_latency
	$(BIN)/python -m bench.answer_latency
	$(BIN)/python -m bench.flap_latency
	$(BIN)/python -m bench.source_latency
	$(BIN)/python -m bench.status_page
	$(BIN)/python -m bench.http_checks --store both
	$(BIN)/python -m bench.cluster
	$(BIN)/python -m bench.store_writes
	$(BIN)/python -m bench.config_fuzz

clean:
	rm -rf $(VENV) .state .mypy_cache .pytest_cache .ruff_cache

# The long runs of issue 13's suites (docs/reliability.md): 52 kill -9 runs of the
# crash-safety scenario, then 10,000 checks for SOAK_MINUTES. Takes about 40 minutes.
SOAK_MINUTES ?= 30
KILL_RUNS ?= 52
# each cluster failover scenario (tests/cluster/test_failover.py, issue 16) this often
CLUSTER_ROUNDS ?= 5
.PHONY: soak
soak: $(STAMP)
	mkdir -p .state
	rm -f .state/kill-runs.jsonl
	SENTINEL_KILL_RUNS=$(KILL_RUNS) SENTINEL_KILL_FIGURES=.state/kill-runs.jsonl \
		$(BIN)/pytest tests/reliability/test_kill.py -q -p no:cacheprovider
	$(BIN)/python -m bench.soak --kill-summary .state/kill-runs.jsonl
	SENTINEL_CLUSTER_ROUNDS=$(CLUSTER_ROUNDS) $(BIN)/pytest tests/cluster/test_failover.py -q -p no:cacheprovider
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)
