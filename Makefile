# Allot: `make run` for the app with demo data, `make test` for the suite. Nothing else is needed.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test lint check format worker-ping clean

# The venv is rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## web + Celery worker + beat on SQLite and a serverless broker, with demo data
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py seed_offers_demo --if-empty
	@echo ""
	@echo "  Allot is starting at http://127.0.0.1:$(PORT)/  (admin: /admin/, API docs: /api/v1/docs/)"
	@echo "  Sign in as engineer@example.com or manager@example.com for the dashboards, hr@example.com,"
	@echo "  finance@example.com or admin for the admin; the password is demo. Ctrl-C stops all."
	@echo ""
	ALLOT_PORT=$(PORT) $(BIN)/honcho start -f Procfile

test: install  ## the whole suite, on DATABASE_URL (SQLite by default)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

check: install  ## security scans: bandit on our code, pip-audit on what is installed
	$(BIN)/bandit -q -c pyproject.toml -r config common people budgets approvals compensation reporting audit provisioning
	$(BIN)/python scripts/pip_audit.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker-ping: install  ## is a worker up? (run beside `make run`)
	$(BIN)/celery -A config inspect ping --timeout 5

clean:
	rm -rf $(VENV) var *.egg-info
