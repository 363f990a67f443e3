# Engium: `make run` runs the whole product, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Hashed pins, made from pyproject.toml by `make lock`: base.lock is what production
# installs, dev.lock adds the dev and embedded extras (what `make install` installs).
BASE_LOCK := requirements/base.lock
DEV_LOCK := requirements/dev.lock

.PHONY: install lock run test lint format bench clean

install: $(STAMP)

# The project runs from its checkout (packages = []): its dependencies are all it installs.
$(STAMP): $(DEV_LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	touch $(STAMP)

# After a change of dependencies in pyproject.toml; ARGS="--upgrade" moves every pin on.
lock: install
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet $(ARGS) \
		--output-file $(BASE_LOCK) pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet $(ARGS) \
		--extra dev --extra embedded --constraint $(BASE_LOCK) \
		--output-file $(DEV_LOCK) pyproject.toml

run: install
	$(BIN)/python -m devtools.launcher run

test: install
	$(BIN)/python -m devtools.launcher test $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	cd clients/python && ../../$(BIN)/mypy src && ../../$(BIN)/python scripts/generate_async.py --check
	DJANGO_SETTINGS_MODULE=engium.settings.test $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	test ! -f .importlinter || $(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python -m bench.run $(ARGS)

clean:
	rm -rf $(VENV) .engium .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
