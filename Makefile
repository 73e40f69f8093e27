# screenshotd: set-up and the two commands of the README.
#
#   make run         install what is missing, then serve on port 3000 with the in-memory cache
#   make test        install what is missing (plus redis-server), then run the whole test suite
#   make image-test  build the Docker image with buildah (no daemon needed) and test it running
#
# All three work on a fresh Debian/Ubuntu machine with Python 3.11+. Installs are skipped when their
# stamp is newer than what they depend on, so a second run starts at once.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMPS := .make
PYTEST_ARGS ?=
IMAGE ?= screenshotd:test

.PHONY: run test test-fast test-context test-page image image-test lint bench bench-image install install-test system system-test clean

run: install
	$(BIN)/screenshotd serve

test: install-test
	$(BIN)/pytest -m "not image" $(PYTEST_ARGS)

## the suite without the corpus-wide runs, for quick local iterations
test-fast: install-test
	$(BIN)/pytest -m "not slow and not image" $(PYTEST_ARGS)

## the integration suite once more with BROWSER_ISOLATION=context (a fresh context for every
## capture): every test that passes on each caller's kept pages must pass with fresh contexts
test-context: install-test
	BROWSER_ISOLATION=context $(BIN)/pytest -m "not slow and not image" tests/integration $(PYTEST_ARGS)

## and with BROWSER_ISOLATION=page (the kept pages shared by every caller)
test-page: install-test
	BROWSER_ISOLATION=page $(BIN)/pytest -m "not slow and not image" tests/integration $(PYTEST_ARGS)

## the Docker image: built from the Dockerfile with buildah (installed when missing; the base
## image is made with debootstrap when no registry can be reached), then run and tested
image:
	bash scripts/image.sh build $(IMAGE)

image-test: install-test image
	SCREENSHOTD_IMAGE=$(IMAGE) $(BIN)/pytest -m image tests/image $(PYTEST_ARGS)

## ruff; mypy --strict on the package; the layers (import-linter: nothing imports upward);
## hadolint on the Dockerfile
lint: install-test
	$(BIN)/ruff check screenshotd tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint --config .hadolint.yaml Dockerfile

bench: install-test
	$(BIN)/python benchmarks/run_all.py

## the image's size per layer and its start time, against `screenshotd serve` on the host
bench-image: install-test image
	cd benchmarks && SCREENSHOTD_IMAGE=$(IMAGE) ../$(BIN)/python bench_image.py

install: system $(STAMPS)/venv
install-test: system-test $(STAMPS)/venv-test

system: $(STAMPS)/system
system-test: $(STAMPS)/system-test

$(STAMPS)/system: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	bash scripts/install-system-deps.sh
	@touch $@

$(STAMPS)/system-test: scripts/install-system-deps.sh
	@mkdir -p $(STAMPS)
	bash scripts/install-system-deps.sh --test
	@touch $@ $(STAMPS)/system

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "screenshotd needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The package is byte-compiled as pip compiles an installed one, so that a command's start-up
# does not compile every module again where PYTHONDONTWRITEBYTECODE is set.
$(STAMPS)/venv: pyproject.toml | $(BIN)/python
	@mkdir -p $(STAMPS)
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m compileall -q screenshotd
	@touch $@

$(STAMPS)/venv-test: pyproject.toml | $(BIN)/python
	@mkdir -p $(STAMPS)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q screenshotd
	@touch $@ $(STAMPS)/venv

clean:
	rm -rf $(VENV) $(STAMPS) .pytest_cache .ruff_cache build *.egg-info
