# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

## run: a private MariaDB seeded from scripts/sql and the API on http://127.0.0.1:8000 (Ctrl-C stops both)
run: bootstrap
	@$(BIN)/python scripts/run_local.py

## test: every check (lint, then the whole pytest suite)
test: bootstrap lint
	$(BIN)/pytest

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
