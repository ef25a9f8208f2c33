# Allot: `make run` for the app with demo data, `make test` for the suite. Nothing else is needed.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test lint check format worker-ping clean litellm-install litellm

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
	ALLOT_PORT=$(PORT) ALLOT_BASE_URL=$${ALLOT_BASE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/honcho start -f Procfile

test: install  ## the whole suite, on DATABASE_URL (SQLite by default)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

check: install  ## security scans: bandit on our code, pip-audit on what is installed
	$(BIN)/bandit -q -c pyproject.toml -r config common people budgets approvals compensation reporting audit \
	  provisioning connectors pilots integrations
	$(BIN)/python scripts/pip_audit.py

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker-ping: install  ## is a worker up? (run beside `make run`)
	$(BIN)/celery -A config inspect ping --timeout 5

# LiteLLM in a virtual environment of its own: its pins never touch the app's.
LITELLM_VENV ?= .venv-litellm
LITELLM_PORT ?= 4000
$(LITELLM_VENV)/.installed: integrations/litellm/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is needed (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install --quiet -r integrations/litellm/requirements.txt
	touch $@

litellm-install: $(LITELLM_VENV)/.installed

litellm: litellm-install  ## a LiteLLM proxy on 127.0.0.1:4000 that obeys the Allot at ALLOT_URL
	@test -n "$$ALLOT_API_KEY" || { echo "Set ALLOT_API_KEY (manage.py create_api_key 'LiteLLM' --scopes=ingest,authorize)"; exit 1; }
	@echo "  LiteLLM proxy on http://127.0.0.1:$(LITELLM_PORT)/ (model mock-sonnet), Allot at $${ALLOT_URL:-http://127.0.0.1:8000}"
	@mkdir -p var && test -s var/litellm-master-key || $(PYTHON) -c \
	  "import secrets; print('sk-' + secrets.token_hex(32))" > var/litellm-master-key
	@echo "  Its master key (LITELLM_MASTER_KEY, else var/litellm-master-key): $${LITELLM_MASTER_KEY:-$$(cat var/litellm-master-key)}"
	env -u DATABASE_URL \
	  ALLOT_URL="$${ALLOT_URL:-http://127.0.0.1:8000}" \
	  ALLOT_EMPLOYEE_FROM="$${ALLOT_EMPLOYEE_FROM:-key_user_email,key_user_id,request_user}" \
	  LITELLM_MASTER_KEY="$${LITELLM_MASTER_KEY:-$$(cat var/litellm-master-key)}" \
	  LITELLM_LOCAL_MODEL_COST_MAP=True \
	  PYTHONPATH="$(abspath integrations/litellm)" \
	  $(LITELLM_VENV)/bin/litellm --config integrations/litellm/config.yaml \
	    --host 127.0.0.1 --port $(LITELLM_PORT)

clean:
	rm -rf $(VENV) $(LITELLM_VENV) var *.egg-info
