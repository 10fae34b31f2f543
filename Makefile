# Vigilo On-call. Quick start: `make run`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv installs exactly what uv.lock pins (every package, every hash); it lives in a tool venv of its own.
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test unit integration e2e lint bench install clean lock

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# --frozen: install the lock as it is; never resolve anew (a fresh machine gets what CI tested).
$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	touch $@

# Upgrading is a deliberate change: re-resolve, run the tests, commit pyproject.toml and uv.lock together.
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

install: $(VENV)/.installed

# A random secret key on first run; .env is git-ignored.
.env:
	@echo "VIGILO_SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))')" > .env
	@echo "wrote .env with a new VIGILO_SECRET_KEY"

run: install .env
	$(BIN)/vigilo migrate
	$(BIN)/vigilo demo
	$(BIN)/vigilo serve --host $(HOST) --port $(PORT)

# Unit, integration (SQLite always; PostgreSQL and Redis when VIGILO_TEST_POSTGRES_URL and
# VIGILO_TEST_REDIS_URL are set) and end-to-end tests in the system Chromium. Tests without worker
# processes run two at a time (each has its own database); the `slow` ones, which start workers and
# measure real delays, run one at a time so they never compete for the two cores.
test: install
	$(BIN)/pytest -m "not slow" -n 2 tests
	$(BIN)/pytest -m slow tests
	$(BIN)/pytest e2e

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest e2e

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Seeds a fresh PostgreSQL database, runs 2 web and 2 worker processes on Redis with fake Slack and
# Twilio, measures every scenario, stops what it started; writes bench/results/latest.{json,md}.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
