# Full-Circle: `make demo` runs the whole system on embedded defaults; `make test` runs the tests.
# Both set up .venv on first use (Python 3.11+ and git are all a fresh machine needs).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint unit integration e2e protos asyncapi up down bench crash-140k clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/fullcircle demo

test: setup lint
	$(BIN)/pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: setup
	$(BIN)/pytest -q tests/unit

integration: setup
	$(BIN)/pytest -q tests/integration

e2e: setup
	$(BIN)/pytest -q tests/e2e

protos: setup
	$(BIN)/python scripts/gen_protos.py

asyncapi: setup
	$(BIN)/python -m fullcircle.asyncapi

up: setup
	$(BIN)/fullcircle up --detach

down: setup
	$(BIN)/fullcircle down

bench: setup
	$(BIN)/python -m bench

# The crash drill of issue 8 on a 140,000-play history: every service SIGKILLed in turn.
crash-140k: setup
	$(BIN)/python -m bench crash_all --plays 140000

clean:
	rm -rf $(VENV) .fullcircle
