# fastmask developer commands. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# trl ships the real chat templates the differential suite runs; its own dependencies
# (torch, accelerate, datasets) are not needed to read template files, so it is installed alone.
TRL := trl==1.16.0

.PHONY: help dev demo-deps run test test-rust test-python lint bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

dev: $(PY) ## build the extension into .venv with the test extras
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps $(TRL)

demo-deps: $(PY)
	$(PY) -m pip install -q -e '.[demo]'

run: demo-deps ## build, then run the demo on the bundled sample conversations
	$(PY) -m fastmask.demo

test-rust: ## Rust unit tests of the core (no Python needed)
	cargo test --quiet

test-python: dev ## the pytest suite, including the differential tests against transformers
	$(PY) -m pytest -q

test: test-rust test-python ## build and run every test

lint: dev ## clippy and the stub check
	cargo clippy --all-targets --features python -- -D warnings
	$(PY) -m mypy.stubtest fastmask._core --ignore-missing-stub

bench: dev ## throughput against transformers (see BENCHMARKS.md)
	$(PY) benches/bench_throughput.py

clean: ## remove build products and the virtualenv
	cargo clean
	rm -rf $(VENV) .cache python/fastmask/*.so
