"""The LiteLLM callback's rules (tests/integrations/litellm_units.py), run in LiteLLM's own
interpreter: on the PostgreSQL pass always (a missing .venv-litellm fails there, as for the
proxy test), on the SQLite pass when .venv-litellm is there."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv-litellm" / "bin" / "python"
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def test_who_pays_the_project_the_estimate_and_a_model_without_a_price():
    if not PYTHON.exists():
        if ON_POSTGRES:
            pytest.fail(f"{PYTHON} is missing: run `make litellm-install`")
        pytest.skip("no .venv-litellm (`make litellm-install`); runs on the PostgreSQL pass")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLOT_", "DATABASE_URL"))}
    env |= {
        "PYTHONPATH": str(ROOT / "integrations" / "litellm"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    done = subprocess.run(  # noqa: S603 - LiteLLM's interpreter, our script
        [str(PYTHON), str(ROOT / "tests" / "integrations" / "litellm_units.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-4000:]
