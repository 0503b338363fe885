# One entry point for people and CI. The environment is built from uv.lock on first use.
PYTHON ?= python3
UV := .uv/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Compile bytecode at install, so no process pays for compiling its imports (`--help` < 1 s;
# where PYTHONDONTWRITEBYTECODE is set, every test worker and CLI would otherwise compile
# them again, 2-3 s each).
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test lint format bench serve clean

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

demo: $(VENV)/.installed
	$(BIN)/ledgerbridge demo

serve: $(VENV)/.installed
	$(BIN)/ledgerbridge serve

# Two workers per core: a test waits on a server, PostgreSQL or a subprocess for about half
# its time, so one worker per core left the machine 40% idle (2 cores, both backends:
# 2 workers 6 min 45 s, 4 workers 4 min 07 s, 6 workers 4 min 33 s). Each test file runs
# in one worker (the browser tests tell one story, in order; pytest-xdist's `loadgroup`
# does not group under pytest 9). Bytecode is written even where PYTHONDONTWRITEBYTECODE is
# set: pytest caches its assert-rewritten modules (the tests, hypothesis, anyio) there,
# else every worker and every run rewrites them again.
TEST_WORKERS ?= $(shell $(PYTHON) -c "import os; print(2 * (os.cpu_count() or 1))")
test: $(VENV)/.installed
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: $(VENV)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .uv .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
