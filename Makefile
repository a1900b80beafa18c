# Marquee: `make run` starts the whole stack locally; `make test` runs the whole suite.
# Both set up what a fresh machine lacks first: system packages, then the virtualenv, each
# with only what that command needs. `make lock` refreshes the pinned Python dependencies.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Debian package : a command or file that shows it is installed.
# Running needs Redis, the fonts the social images are drawn with, and espeak-ng for the
# teaser videos' narration.
RUN_PACKAGES := redis-server:redis-server \
	fonts-dejavu-core:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf \
	fonts-dejavu-extra:/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf \
	espeak-ng:espeak-ng
# Testing also needs a browser for the Selenium tests, Java for the HTML checker, and
# ffprobe (Debian's ffmpeg) to inspect the teaser videos as a platform would.
TEST_PACKAGES := chromium:chromium chromium-driver:chromedriver default-jre-headless:java ffmpeg:ffprobe
# What `make system-deps` checks (`make bench` passes its own).
SYSTEM_PACKAGES := $(RUN_PACKAGES) $(TEST_PACKAGES)

# The Python dependencies, pinned with hashes for Python 3.11 on Linux (`make lock` writes
# them): run.txt is pyproject's dependencies, test.txt adds the `test` extra, deploy.txt the
# `deploy` extra (the image), bench.txt the `test` and `bench` extras. Each extends the one
# before at the same versions, so what the tests exercise is what runs.
LOCK_RUN := requirements/run.txt
LOCK_TEST := requirements/test.txt
LOCK_DEPLOY := requirements/deploy.txt
LOCK_BENCH := requirements/bench.txt
UV_VERSION := 0.13.9
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--python-platform linux --custom-compile-command "make lock" $(LOCK_ARGS)

.PHONY: run test lint chaos bench lock system-deps system-deps-run system-deps-test venv venv-run venv-test venv-bench clean

run: system-deps-run venv-run
	$(BIN)/marquee run

# Two test processes (pytest-xdist), each file's tests kept together in one of them: most
# integration tests wait on real processes, so on two cores the suite takes 15 minutes
# rather than 22. `make test TEST_PROCESSES=0` runs it in one process.
TEST_PROCESSES ?= 2

test: system-deps-test venv-test lint
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

# Style, format, types and the import layers (pyproject.toml); `make test` runs it first.
lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The fault campaign against the real local stack (docs/RELIABILITY.md); bounded, loopback only.
# MARQUEE_CHAOS_SCALE=0.1 for a quick look, MARQUEE_CHAOS_ONLY=1,3 for some scenarios.
chaos: system-deps-run venv-test
	$(BIN)/python -m tests.chaos.campaign

# Benchmarks (docs/PERFORMANCE.md): about ten minutes on two cores; loopback only.
bench: system-deps-run venv-bench
	@$(call require_packages,wrk:wrk,make bench)
	$(BIN)/python -m tests.bench

# Refresh the lock files from pyproject.toml, keeping every pin that still fits;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest releases that fit,
# `LOCK_ARGS="--upgrade-package fastapi"` one package. Commit the result.
lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)" 2>&1 | grep -v "^WARNING: Location"; test -x $(BIN)/uv
	@mkdir -p requirements
	$(UV_COMPILE) -o $(LOCK_RUN)
	$(UV_COMPILE) --extra test -c $(LOCK_RUN) -o $(LOCK_TEST)
	$(UV_COMPILE) --extra deploy -c $(LOCK_RUN) -o $(LOCK_DEPLOY)
	$(UV_COMPILE) --extra test --extra bench -c $(LOCK_TEST) -o $(LOCK_BENCH)

# --- the virtualenv: the run lock for `make run`, the test lock for `make test` -------------

venv-run: $(VENV)/.installed-run
venv-test: $(VENV)/.installed-test
venv-bench: $(VENV)/.installed-bench
venv: venv-test

# A changed lock file (or pyproject.toml) reinstalls.
$(VENV)/.installed-run: pyproject.toml $(LOCK_RUN)
	$(call install_lock,$(LOCK_RUN))

$(VENV)/.installed-test: pyproject.toml $(LOCK_TEST)
	$(call install_lock,$(LOCK_TEST))

$(VENV)/.installed-bench: pyproject.toml $(LOCK_BENCH)
	$(call install_lock,$(LOCK_BENCH))

# The lock's exact files (pip checks every hash), then Marquee itself without resolving
# anything more; `pip check` catches a lock that no longer covers pyproject.toml.
define install_lock
@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Marquee needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0])'
@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
@echo "installing Python packages from $(1) into $(VENV)…"
@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(1) 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . 2>&1 | grep -v "^WARNING: Location"; test $${PIPESTATUS[0]} -eq 0
@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; echo "$(1) does not match pyproject.toml: run make lock"; exit 1; }
@touch $@
endef

# --- system packages: apt-get when root, otherwise a message saying what to install -----------

system-deps-run:
	@$(call require_packages,$(RUN_PACKAGES),make run)

system-deps-test:
	@$(call require_packages,$(RUN_PACKAGES) $(TEST_PACKAGES),make test)

system-deps:
	@$(call require_packages,$(SYSTEM_PACKAGES),Marquee)

# $(1): package:probe entries; $(2): who needs them, for the message.
require_packages = missing=""; \
	for entry in $(1); do \
	  package=$${entry%%:*}; probe=$${entry\#*:}; \
	  command -v "$$probe" >/dev/null 2>&1 || [ -e "$$probe" ] || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "$(2) needs these system packages, which are not installed:$$missing"; \
	    echo "Install them (Debian/Ubuntu: sudo apt-get install$$missing) and run make again."; \
	    exit 1; \
	  fi; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
