# The two commands a user needs: `make run` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP_COMPILE := $(VENV)/bin/pip-compile -q --strip-extras --no-header --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

.PHONY: help setup setup-test run test lint format typecheck unit bench lock clean

help:
	@echo "make run    set up, train if needed, start Rasa, actions and hub (http://127.0.0.1:8000)"
	@echo "make test   set up, then ruff, mypy and the whole pytest suite"
	@echo "make bench  latency benchmark of the hub against Rasa (JSON)"
	@echo "make lock   re-lock requirements/*.in into requirements/*.txt"

setup:
	@scripts/setup.sh

# The test tools and the LLM test server go into .venv only for tests and benchmarks.
setup-test:
	@scripts/setup.sh --test

run: setup
	$(PY) -m bot run

test: setup-test lint typecheck
	$(PY) -m pytest

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup-test
	$(VENV)/bin/mypy

format: setup-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

unit: setup-test
	$(PY) -m pytest -m "not integration"

bench: setup-test
	$(PY) -m bench.latency

lock:
	cd requirements && ../$(PIP_COMPILE) hub.in -o hub.txt && ../$(PIP_COMPILE) dev.in -o dev.txt \
		&& ../$(PIP_COMPILE) llm.in -o llm.txt

clean:
	rm -rf var models .rasa .mypy_cache .ruff_cache .pytest_cache
