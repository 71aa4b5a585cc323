# The two commands of the README. Both install what they need first (scripts/bootstrap.sh).
VENV := .venv
BIN := $(VENV)/bin
# Parallel pytest workers (pytest-xdist). Most tests wait on servers, containers and timeouts rather
# than the CPU, so even 2 cores gain from more workers than cores; the podman tests share one worker.
WORKERS ?= 3
# Bytecode caches on, whatever the environment says (these CI machines set PYTHONDONTWRITEBYTECODE=1):
# the suite starts the API, the doubles and its workers hundreds of times, and without caches each
# start compiles the project's modules again (pytest then also rewrites every test module each run).
# The caches are in .gitignore and .dockerignore.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-fast lint bootstrap bootstrap-run bootstrap-exam clean deploy exam undeploy

bootstrap:
	@scripts/bootstrap.sh test

bootstrap-run:
	@scripts/bootstrap.sh run

bootstrap-exam:
	@scripts/bootstrap.sh exam

## run: a private MariaDB seeded from scripts/sql and the API on http://127.0.0.1:8000 (Ctrl-C stops both)
run: bootstrap-run
	@$(BIN)/python scripts/run_local.py

## test: every check (lint, then the whole pytest suite)
# For `make test` only, bootstrap also starts building the container tests' images in the background.
test: export TEST_IMAGES_HEAD_START := 1
test: bootstrap lint
	$(BIN)/pytest -n $(WORKERS)

## test-fast: everything but the tests that need a container engine (a quick loop while coding)
test-fast: bootstrap lint
	$(BIN)/pytest -n $(WORKERS) -m "not container"

## deploy: build the API image, load it into the cluster kubectl points at (k3s, kind, minikube, or REGISTRY=),
## apply the manifests, wait, and capture evidence (scripts/deploy.sh --help)
deploy:
	@scripts/deploy.sh deploy

## exam: with REGISTRY=docker.io/<user>, push the image, write exam/ (the five files to hand in), check them
## with scripts/check-exam, apply them, wait, and capture evidence into exam/evidence/
exam: bootstrap-exam
	@scripts/deploy.sh exam

## undeploy: delete what `make deploy` made (a Secret it did not create stays)
undeploy:
	@scripts/deploy.sh undeploy

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
