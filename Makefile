# Two commands set everything up on a machine with only python3 and make:
#   make deck   build content/ into build/
#   make test   ruff, mypy and pytest (every test; pytest includes the desktop tests, which
#               show every card in the real Anki app (aqt) on Xvfb; .ci/run installs its packages)
#   make test-fast  ruff and the tests not marked slow, browser or desktop (the edit loop)
#   make bench  time cardsmith against markdown-anki-decks, write bench/results.md
#               (options: make bench BENCH_ARGS="--sizes 5000 --runs 1"; see bench/run.py -h)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: deck test test-fast lint check clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

deck: $(STAMP_RUN)
	$(BIN)/cardsmith build content --out build

check: $(STAMP_RUN)
	$(BIN)/cardsmith check --strict content

lint: $(STAMP_TEST)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP_RUN)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

test: lint
	$(BIN)/python -m pytest

# Markers are listed in pyproject.toml ([tool.pytest.ini_options] markers).
test-fast: $(STAMP_TEST)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -q -m "not slow and not browser and not desktop"

clean:
	rm -rf build

# Photograph one card of the shipped deck, light and night, at phone width, for the README
# from the real Anki desktop reviewer (needs xvfb and the Qt libraries that .ci/run installs).
.PHONY: screenshots
screenshots: $(STAMP_TEST)
	$(BIN)/python -m tests.desktophelp docs/img
