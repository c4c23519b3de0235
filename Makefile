# PACS Lab. `make demo` trains the embedded default; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help setup system-deps bundle build demo test lint typecheck test-unit test-py test-webview test-e2e test-cluster fuzz package bench ide clean

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PY_HASH := $(shell cat trainer/requirements.txt trainer/pyproject.toml | sha256sum | cut -c1-16)
PY_STAMP := $(VENV)/.stamp-$(PY_HASH)
NPM_HASH := $(shell cat package-lock.json | sha256sum | cut -c1-16)
NPM_STAMP := node_modules/.stamp-$(NPM_HASH)
MATH_CHAT_MODEL := examples/math-chat/model/config.json

export ONNXRUNTIME_NODE_INSTALL := skip
export PACS_PYTHON := $(abspath $(VPY))
export PYTHONUNBUFFERED := 1

help:
	@echo "make demo     train the embedded default (tiny model, arithmetic) with live progress"
	@echo "make test     lint, type-check, unit, trainer, webview, Slurm and real-VS-Code tests"
	@echo "make setup    install Node and Python dependencies (idempotent)"
	@echo "make build    type-check and bundle the extension, CLI and webviews"
	@echo "make package  build the linux-x64 .vsix"
	@echo "make fuzz     the run-folder property tests with many more cases than make test"
	@echo "make bench    run the benchmarks in bench/"
	@echo "make ide      code-server with the packaged extension on examples/"

setup: $(PY_STAMP) $(NPM_STAMP) $(MATH_CHAT_MODEL)

# Debian's chromium, ripgrep and code-server's build libraries (one list, shared with .ci/run).
system-deps:
	@bash test/system-deps.sh

# The virtual environment is keyed by a hash of the trainer's requirements: reused when
# present and current, repaired when missing or stale.
$(PY_STAMP):
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --disable-pip-version-check -r trainer/requirements.txt
	$(VPY) -m pip install -q --disable-pip-version-check --no-deps -e trainer
	@rm -f $(VENV)/.stamp-* && touch $@

# examples/math-chat's small chat model is built, not committed.
$(MATH_CHAT_MODEL): $(PY_STAMP) examples/math-chat/make_model.py
	$(VPY) examples/math-chat/make_model.py

$(NPM_STAMP):
	npm ci --no-audit --no-fund
	@rm -f node_modules/.stamp-* && touch $@

bundle: setup
	node esbuild.mjs

build: typecheck bundle

demo: bundle
	node dist/cli.js train examples/arith.pacs.yaml --python $(VPY)

lint: setup
	@echo "== $@ started at $$(date +%T)"
	npx eslint src webview test bench

typecheck: setup
	@echo "== $@ started at $$(date +%T)"
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.webview.json --noEmit

test-unit: bundle
	@echo "== $@ started at $$(date +%T)"
	node --import tsx --test --test-concurrency=2 --test-reporter=spec $$(find test/unit -name '*.test.ts' | sort)

test-py: setup
	@echo "== $@ started at $$(date +%T)"
	cd trainer && ../$(VPY) -m pytest -q --durations=10

test-webview: system-deps bundle
	@echo "== $@ started at $$(date +%T)"
	node test/webview/run.mjs

test-e2e: system-deps package
	@echo "== $@ started at $$(date +%T)"
	bash test/e2e/run.sh

# A single-node Slurm (munged, slurmctld, slurmd under a temporary folder, stopped by pid) and the
# Slurm launcher's tests against it (test/cluster/).
test-cluster: system-deps setup
	@echo "== $@ started at $$(date +%T)"
	bash test/cluster/run.sh

test: system-deps lint typecheck test-unit test-py test-webview test-cluster test-e2e
	@echo "== test ended at $$(date +%T)"

# The hostile-run-folder property tests (fast-check, Hypothesis) that make test runs a few thousand
# cases of, with FUZZ_RUNS cases per property.
FUZZ_RUNS ?= 20000
fuzz: setup
	PACS_FUZZ_RUNS=$(FUZZ_RUNS) node --import tsx --test --test-reporter=spec test/unit/src/run/model/runFolder.fuzz.test.ts test/unit/src/run/model/resultFiles.fuzz.test.ts
	cd trainer && PACS_FUZZ_RUNS=$(FUZZ_RUNS) ../$(VPY) -m pytest -q tests/run/test_fuzz.py

package: typecheck
	node esbuild.mjs --production
	npx vsce package --target linux-x64 --no-rewrite-relative-links --out pacs-lab-linux-x64.vsix

bench: bundle
	bash bench/run.sh

ide: package
	bash test/e2e/ide.sh

clean:
	rm -rf dist out test-results *.vsix
