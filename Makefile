# The two commands a user needs: `make run` and `make test`. Both set up what is missing first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP_COMPILE := $(VENV)/bin/pip-compile -q --strip-extras --no-header --allow-unsafe \
	--no-emit-index-url --no-emit-find-links

.PHONY: help setup setup-test run test lint format typecheck unit bench lock clean shell validate

help:
	@echo "make run    set up, train if needed, start Rasa, actions and hub (http://127.0.0.1:8000)"
	@echo "make test   set up, then ruff, mypy and the whole pytest suite"
	@echo "make bench  latency benchmark of the hub against Rasa (JSON)"
	@echo "make shell  rasa shell against the running action server (start it with make run)"
	@echo "make lock   re-lock requirements/*.in into requirements/*.txt and rasa.lock.txt"

setup:
	@scripts/setup.sh

# The test tools and the LLM test server go into .venv only for tests and benchmarks.
setup-test:
	@scripts/setup.sh --test

run: setup
	$(PY) -m bot run

# Tests that need no Rasa process run on both cores (pytest-xdist, a test file per worker), but
# the API fuzzing (schemathesis reports no failure under xdist, checked). The integration tests
# run on two workers too, each starting one platform that its test files share (12 min against
# 13.5 min on one worker, measured on a quiet machine). The slowest tests are listed
# (--durations) so a run that grows towards CI's 45 minutes shows where the time goes. The Rasa
# model the integration tests need trains beside the fuzzing, which keeps one core only (about
# 3 min of a fresh clone's training, otherwise done while the second worker waits for it); if
# that training fails, the integration tests train again and say why.
test: setup-test lint typecheck validate
	$(PY) -m pytest -m "not integration and not fuzz" -n 2 --dist loadfile --durations=15
	@mkdir -p var
	$(PY) -m bot train > var/test-train.log 2>&1 & train=$$!; \
	$(PY) -m pytest -m fuzz; fuzz=$$?; \
	wait $$train || echo "training beside the fuzzing failed (var/test-train.log)"; \
	exit $$fuzz
	$(PY) -m pytest -m integration -n 2 --dist loadfile --durations=15

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# Rasa's own check of the domain, NLU data, stories and rules.
validate: setup
	$(PY) -m bot validate

# Rasa's own interactive shell, against the platform's action server (`make run` in another
# terminal); trains the model first if its inputs changed.
shell: setup
	$(PY) -m bot shell

# mypy checks on both cores (2.0 min against 2.8 min on one, without a cache).
typecheck: setup-test
	$(VENV)/bin/mypy --num-workers auto

format: setup-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

unit: setup-test
	$(PY) -m pytest -m "not integration"

bench: setup-test
	$(PY) -m bench.latency

lock:
	cd requirements && ../$(PIP_COMPILE) hub.in -o hub.txt && ../$(PIP_COMPILE) dev.in -o dev.txt \
		&& ../$(PIP_COMPILE) llm.in -o llm.txt && ../$(PIP_COMPILE) spark.in -o spark.txt
	# Rasa's environment is locked by resolving rasa.in in a scratch Python 3.10 environment.
	scripts/lock-rasa.sh

clean:
	rm -rf var models .rasa .mypy_cache .ruff_cache .pytest_cache
