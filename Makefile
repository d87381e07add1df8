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
# The lab package (lab/, winfleet_lab) is installed into the venv (pip install -e lab): no path edits for it.
export PYTHONPATH := $(COLL_ROOT)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
# Everything a test run prints or writes (logs, JUnit, ansible's log, pytest's temporary trees with the campaign
# reports) lands under .build/artifacts; tools/secretscan.py checks it last for every secret the labs handed out.
ARTIFACTS := $(CURDIR)/.build/artifacts
export WINFLEET_SECRETS_REGISTRY := $(CURDIR)/.build/secrets-registry.jsonl
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
# Some machines set PYTHONDONTWRITEBYTECODE: every ansible-playbook run and lab process of the suites would then compile
# the collection's plugins and the lab again. Bytecode is written (__pycache__ is ignored by git, by Galaxy's build and
# by the sanity copy).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test bench lab graph-lab ad-lab configmgr-lab venv link sysdeps microsoft-ad lint ruff units integration \
	reliability secretscan sanity package cores clean lock help

help:
	@echo "make demo   - set up and run the main job on the embedded lab"
	@echo "make test   - sanity, unit, integration, ansible-lint and ruff"
	@echo "make bench  - benchmarks (merge, collect, register)"
	@echo "make lab    - run the Windows fleet lab in the foreground"
	@echo "make package - the collection tarball and the execution environment's build context (.build/)"

$(STAMP): requirements/dev.txt lab/pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found %s" % sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e lab
	touch $(STAMP)

venv: $(STAMP)

# System packages the labs and tests need (Samba AD DC, Chromium + chromedriver, Go + masterzen/winrm for a WinRM
# client the project did not write): installed once when root,
# otherwise the tests that need them skip with a loud message.
SYSDEPS_STAMP := .build/.sysdeps
$(SYSDEPS_STAMP): tools/install-chromium.sh tools/install-sudo.sh tools/install-winrm-go.sh tools/winrm-go-client/main.go \
		tools/install-kerberos.sh requirements/kerberos.txt lab/winfleet_lab/samba.py | venv link
	@mkdir -p .build
	tools/install-chromium.sh
	tools/install-winrm-go.sh
	tools/install-kerberos.sh
	tools/install-sudo.sh
	$(BIN)/python -m winfleet_lab.samba install
	touch $(SYSDEPS_STAMP)

sysdeps: $(SYSDEPS_STAMP)

# microsoft.ad (its microsoft.ad.ldap inventory plugin targets AD computers), without Galaxy.
microsoft-ad: venv link
	tools/install-microsoft-ad.sh

link:
	@mkdir -p $(dir $(LINK))
	@[ -L $(LINK) ] || ln -sfn $(CURDIR) $(LINK)

demo: venv link sysdeps microsoft-ad
	$(BIN)/python tools/demo.py

lab: venv link
	$(BIN)/python -m winfleet_lab.wsman serve $(LAB_ARGS)

graph-lab: venv link
	$(BIN)/python -m winfleet_lab.graph serve $(LAB_ARGS)

ad-lab: venv link sysdeps
	$(BIN)/python -m winfleet_lab.samba serve --dir .build/ad-lab $(LAB_ARGS)

configmgr-lab: venv link
	$(BIN)/python -m winfleet_lab.configmgr serve --dir .build/configmgr-lab --devices 5 $(LAB_ARGS)

ruff: venv
	$(BIN)/ruff check plugins tests tools

units: venv link
	$(PYTEST) tests/unit -n 2 --junitxml=$(ARTIFACTS)/junit-units.xml --basetemp=$(ARTIFACTS)/tmp-units

integration: venv link sysdeps microsoft-ad
	$(PYTEST) tests/integration -n 2 --junitxml=$(ARTIFACTS)/junit-integration.xml --basetemp=$(ARTIFACTS)/tmp-integration

reliability: venv link
	$(PYTEST) tests/reliability -n 3 --dist worksteal --junitxml=$(ARTIFACTS)/junit-reliability.xml --basetemp=$(ARTIFACTS)/tmp-reliability

# What the suite left behind that a person or a CI system reads: the logs, JUnit files, ansible's log and every
# campaign report / journal under pytest's temporary trees. Inputs and data files (lab inventories, hash files,
# upload CSVs, a test's dump of registered records) are not outputs and are not scanned; nor are the trees where
# the scanner's own tests plant secrets on purpose.
secretscan: venv
	@find $(ARTIFACTS) -path '*/test_planted_secret*' -prune -o -type f \( -name '*.log' -o -name 'junit*.xml' \
	  -o -name 'report.*' -o -name 'journal.jsonl' -o -name 'stdout*' -o -name 'stderr*' \) -print0 \
	  > .build/secretscan.files
	$(BIN)/python tools/secretscan.py --registry $(WINFLEET_SECRETS_REGISTRY) --json .build/secretscan.json \
	  $$(tr '\0' ' ' < .build/secretscan.files)

# Every ansible-core release meta/runtime.yml claims besides the main one (requirements/dev.txt pins 2.19) gets a small
# virtualenv with only that ansible-core and the dependencies it resolves (Jinja2, resolvelib, ...); a .pth file lets it see everything else in .venv
# (pytest, the lab, the collection's libraries). `make cores` checks what differs between ansible-core releases - their
# API - on each: every plugin and util imports and documents itself (test_plugin_imports.py), the filter and console
# tests, and the playbook smoke tests (pytest -m smoke: a merge and a small lab campaign). The logic's own unit tests
# do not depend on the release and run once, in `make units`.
CORES := 2.17 2.18
CORE_PIN_2.17 := ansible-core==2.17.14
CORE_PIN_2.18 := ansible-core==2.18.19
CORE_VENVS := $(foreach c,$(CORES),.build/core-$(c)/.installed)

.build/core-%/.installed: requirements/dev.txt Makefile | venv
	rm -rf .build/core-$*
	$(PYTHON) -m venv .build/core-$*
	.build/core-$*/bin/python -m pip install -q --disable-pip-version-check "$(CORE_PIN_$*)"
	# addsitedir (not a bare path line) also runs .venv's own .pth files: the lab's editable install is one of them
	echo "import site; site.addsitedir('$(CURDIR)/$(VENV)/lib/python3.11/site-packages')" \
	  > .build/core-$*/lib/python3.11/site-packages/zz-winfleet-dev.pth
	touch $@

cores: venv link sysdeps $(CORE_VENVS)
	@for core in $(CORES); do \
	  py=.build/core-$$core/bin/python; \
	  echo "make cores: $$($$py -c 'import ansible; print("ansible-core", ansible.__version__)')"; \
	  $$py -c 'import ansible, sys; sys.exit(0 if ansible.__version__.startswith("'$$core'.") else 1)'; \
	  $$py -m pytest -q -p no:cacheprovider tests/unit/plugins/test_plugin_imports.py tests/unit/plugins/filter \
	    tests/unit/plugins/plugin_utils -n 2 --junitxml=$(ARTIFACTS)/junit-units-$$core.xml \
	    --basetemp=$(ARTIFACTS)/tmp-units-$$core; \
	  $$py -m pytest -q -p no:cacheprovider -m smoke tests/integration -n 2 \
	    --junitxml=$(ARTIFACTS)/junit-smoke-$$core.xml --basetemp=$(ARTIFACTS)/tmp-smoke-$$core; \
	done

sanity: venv link
	tools/sanity.sh

# ansible.cfg (repo root) points ansible at .build/collections, so a plain `ansible-lint` finds the collection too.
lint: venv link
	$(BIN)/ansible-lint

# The collection tarball as Galaxy / Automation Hub would receive it (.build/package/), and the execution
# environment's build context (.build/ee-context/): `ansible-builder create` writes the Containerfile and copies the
# tarball, without a container runtime. introspect lists the packages an EE build would take from the collection's
# meta/execution-environment.yml. Any failure fails the target.
PACKAGE := .build/package
package: venv
	rm -rf $(PACKAGE) .build/ee-context
	$(BIN)/ansible-galaxy collection build --output-path $(PACKAGE) .
	cp $(PACKAGE)/winfleet-autopilot-*.tar.gz $(PACKAGE)/winfleet-autopilot.tar.gz
	env -u PYTHONPATH ANSIBLE_COLLECTIONS_PATH=$(PACKAGE)/collections $(BIN)/ansible-galaxy collection install --offline \
	  $(PACKAGE)/winfleet-autopilot.tar.gz -p $(PACKAGE)/collections
	$(BIN)/ansible-builder introspect --sanitize $(PACKAGE)/collections | tee $(PACKAGE)/introspect.txt
	grep -q 'from collection winfleet.autopilot' $(PACKAGE)/introspect.txt
	$(BIN)/ansible-builder create -f execution-environment.yml --context .build/ee-context
	test -s .build/ee-context/_build/collections/winfleet-autopilot.tar.gz

# The set-up the campaign suites need (system packages and labs, microsoft.ad, the other ansible-core releases) is
# mostly downloads, package installs and two C compilations: on a fresh machine it runs while the suites that need
# none of it do - ruff, the unit tests, then lint, package and sanity. Those three only read the tree and write their
# own outputs, and spend long stretches on one core: they run side by side, each into its own log, printed when all
# three are done. Then the suites that run campaigns, one after the other (each spreads over both cores itself).
SETUP := sysdeps microsoft-ad $(CORE_VENVS)
STATIC_SUITES := lint package sanity
test: venv link
	@start=$$(date +%s); \
	rm -rf $(ARTIFACTS) $(WINFLEET_SECRETS_REGISTRY); mkdir -p $(ARTIFACTS); \
	export ANSIBLE_LOG_PATH=$(ARTIFACTS)/ansible.log; \
	run() { for suite in "$$@"; do \
	    s0=$$(date +%s); \
	    $(MAKE) --no-print-directory $$suite 2>&1 | tee $(ARTIFACTS)/$$suite.log; \
	    echo "make test: $$suite passed in $$(( $$(date +%s) - s0 )) s" | tee -a $(ARTIFACTS)/times.log; \
	  done; }; \
	apart() { name=$$1; shift; \
	  ( if $(MAKE) --no-print-directory "$$@" > $(ARTIFACTS)/$$name.log 2>&1; then echo passed; else echo FAILED; fi \
	    > $(ARTIFACTS)/$$name.status ) & }; \
	apart setup $(SETUP); setup=$$!; \
	run ruff units; \
	s0=$$(date +%s); pids=""; \
	for suite in $(STATIC_SUITES); do apart $$suite $$suite; pids="$$pids $$!"; done; \
	wait $$pids; failed=""; \
	for suite in $(STATIC_SUITES); do \
	  cat $(ARTIFACTS)/$$suite.log; \
	  echo "make test: $$suite $$(cat $(ARTIFACTS)/$$suite.status) (side by side with the others: $$(( $$(date +%s) - s0 )) s)" \
	    | tee -a $(ARTIFACTS)/times.log; \
	  grep -qx passed $(ARTIFACTS)/$$suite.status || failed="$$failed $$suite"; \
	done; \
	wait $$setup; cat $(ARTIFACTS)/setup.log; \
	echo "make test: set-up $$(cat $(ARTIFACTS)/setup.status) ($$(( $$(date +%s) - start )) s since the start)" \
	  | tee -a $(ARTIFACTS)/times.log; \
	grep -qx passed $(ARTIFACTS)/setup.status || failed="$$failed set-up"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed"; exit 1; fi; \
	run integration reliability cores; \
	$(MAKE) --no-print-directory secretscan; \
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
