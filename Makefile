# Tusk — the README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HASH   := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP  := $(VENV)/.installed-all-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
PORT   ?= 8000

.PHONY: run test install install-test chromium postgres lint format bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[all]'
	rm -f $(VENV)/.installed-all-*
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[all,test]'
	rm -f $(VENV)/.installed-*
	touch $(RUN_STAMP) $@

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

## make run: install, create the demo data, start the studio on http://127.0.0.1:8000
run: install
	$(VENV)/bin/tusk studio --host 127.0.0.1 --port $(PORT)

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

postgres:
	scripts/pg-up

## make test: install, start PostgreSQL and chromium, lint, run every test
test: install-test chromium postgres lint
	$(PY) -m pytest

## make lint: ruff (style, imports, bugs) and mypy (types of tusk/, configured in pyproject)
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install-test postgres
	$(PY) bench/pg_fetch.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .ruff_cache
