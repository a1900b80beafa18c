# Marquee: `make run` starts the whole stack locally; `make test` runs the whole suite.
# Both set up what a fresh machine lacks first: system packages, then the virtualenv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Debian package : a command or file that shows it is installed.
SYSTEM_PACKAGES := redis-server:redis-server fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	fonts-dejavu-extra:/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf \
	chromium:chromium chromium-driver:chromedriver default-jre-headless:java

.PHONY: run test lint chaos bench system-deps venv clean

run: system-deps venv
	$(BIN)/marquee run

test: system-deps venv lint
	$(BIN)/pytest

# Style, format, types and the import layers (pyproject.toml); `make test` runs it first.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The fault campaign against the real local stack (docs/RELIABILITY.md); bounded, loopback only.
# MARQUEE_CHAOS_SCALE=0.1 for a quick look, MARQUEE_CHAOS_ONLY=1,3 for some scenarios.
chaos: system-deps venv
	$(BIN)/python -m tests.chaos.campaign

# Benchmarks (docs/PERFORMANCE.md): about ten minutes on two cores; loopback only.
bench: system-deps venv
	@$(MAKE) --no-print-directory SYSTEM_PACKAGES="wrk:wrk" system-deps
	@$(BIN)/python -c 'import matplotlib' 2>/dev/null || $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m tests.bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Marquee needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
	@touch $(STAMP)

system-deps:
	@missing=""; \
	for entry in $(SYSTEM_PACKAGES); do \
	  package=$${entry%%:*}; probe=$${entry#*:}; \
	  command -v "$$probe" >/dev/null 2>&1 || [ -e "$$probe" ] || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Marquee needs these system packages, which are not installed:$$missing"; \
	    echo "Install them (Debian/Ubuntu: sudo apt-get install$$missing) and run make again."; \
	    exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
