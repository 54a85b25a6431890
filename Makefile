# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install codelm, run the quickstart pipeline
#   make test   create .venv, install codelm with test extras, lint, run the tests
# GPU users: install the CUDA build of torch 2.13.0 into .venv first (see README).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_ARGS ?=
PYTEST_ARGS ?=
# Debian packages the project uses: bubblewrap is the sandbox's isolation tier.
DEB_PACKAGES := bubblewrap

.PHONY: demo test lint system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Pinned by constraints.txt; reinstall only when it or pyproject.toml changes (the stamp records the last install).
$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[serve]"
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e ".[serve,dist,track,dev]"
	touch $@

system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q $$missing >/dev/null 2>&1 \
		|| { timeout 600 apt-get update -q >/dev/null 2>&1; \
		     DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q $$missing >/dev/null; } \
		|| echo "warning: could not install$$missing; the sandbox falls back to a weaker tier only if allowed"; \
	else \
		echo "warning: not root; install these Debian packages yourself for full sandboxing:$$missing"; \
	fi

demo: system-deps $(VENV)/.installed-demo
	$(BIN)/codelm quickstart $(DEMO_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks

test: system-deps $(VENV)/.installed-test lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
