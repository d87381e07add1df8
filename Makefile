# winfleet.autopilot - the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COLL_ROOT := $(CURDIR)/.build/collections
LINK := $(COLL_ROOT)/ansible_collections/winfleet/autopilot
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export PYTHONPATH := $(CURDIR)/tests/lab:$(COLL_ROOT)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0

.PHONY: demo test bench lab graph-lab venv link lint ruff units integration sanity clean lock help

help:
	@echo "make demo   - set up and run the main job on the embedded lab"
	@echo "make test   - sanity, unit, integration, ansible-lint and ruff"
	@echo "make bench  - benchmarks (merge, collect, register)"
	@echo "make lab    - run the Windows fleet lab in the foreground"

$(STAMP): requirements/dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found %s" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	touch $(STAMP)

venv: $(STAMP)

link:
	@mkdir -p $(dir $(LINK))
	@[ -L $(LINK) ] || ln -sfn $(CURDIR) $(LINK)

demo: venv link
	$(BIN)/python tools/demo.py

lab: venv link
	$(BIN)/python -m winfleet_lab.wsman serve $(LAB_ARGS)

graph-lab: venv link
	$(BIN)/python -m winfleet_lab.graph serve $(LAB_ARGS)

ruff: venv
	$(BIN)/ruff check plugins tests tools

units: venv link
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit -n 2

integration: venv link
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration

sanity: venv link
	tools/sanity.sh

lint: venv link
	$(BIN)/ansible-lint

test: venv link
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory ruff; \
	$(MAKE) --no-print-directory units; \
	$(MAKE) --no-print-directory integration; \
	$(MAKE) --no-print-directory lint; \
	$(MAKE) --no-print-directory sanity; \
	echo "make test: all suites passed in $$(( $$(date +%s) - start )) s"

bench: venv link
	$(BIN)/python tests/bench/run.py $(BENCH_ARGS)

lock:
	rm -rf .build/lockvenv && $(PYTHON) -m venv .build/lockvenv
	.build/lockvenv/bin/pip install -q -r requirements/dev.in
	(echo "# Fully pinned environment for development, tests and the lab (Python 3.11). Regenerate from dev.in with: make lock"; \
	 .build/lockvenv/bin/pip freeze) > requirements/dev.txt

clean:
	rm -rf .build tests/output .pytest_cache .ruff_cache .hypothesis
