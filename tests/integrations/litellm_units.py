"""Checks of the LiteLLM callback's own rules, run by test_litellm_callback.py with LiteLLM's
interpreter (.venv-litellm), where the callback can be imported: who pays, which project, the
estimate, the float-to-decimal rule, a model without a price. Prints "ok" when all hold."""

import os
import tempfile
from decimal import Decimal

os.environ["ALLOT_SPOOL_PATH"] = os.path.join(tempfile.mkdtemp(), "spool.sqlite3")

from allot_callback import AllotHandler, Settings, to_decimal  # noqa: E402
from fastapi import HTTPException  # noqa: E402
from litellm.proxy._types import UserAPIKeyAuth  # noqa: E402

IN, OUT = Decimal("0.000003"), Decimal("0.000015")


def handler(**env) -> AllotHandler:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        made = AllotHandler(Settings.from_env())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    made.prices_of = lambda model: (IN, OUT)
    made._tokens = lambda model, messages=None, text=None: 7  # a fixed prompt size
    return made


def who() -> None:
    default = handler()
    key = UserAPIKeyAuth(user_id="EMP00042", user_email="ana@example.com")
    assert default.employee_of(key, {"user": "bob@example.com"}) == "ana@example.com"
    assert default.employee_of(UserAPIKeyAuth(user_id="EMP00042"), {}) == "EMP00042"
    master = UserAPIKeyAuth(user_id="default_user_id")  # the master key's stand-in id
    assert default.employee_of(master, {"user": "bob@example.com"}) == "bob@example.com"
    assert default.employee_of(master, {}) is None
    by_request = handler(ALLOT_EMPLOYEE_FROM="request_user")
    assert by_request.employee_of(key, {"user": "bob@example.com"}) == "bob@example.com"
    by_id = handler(ALLOT_EMPLOYEE_FROM="key_user_id")
    assert by_id.employee_of(key, {"user": "bob@example.com"}) == "EMP00042"
    for bad in ("ALLOT_EMPLOYEE_FROM", "ALLOT_FAILURE_MODE"):
        try:
            handler(**{bad: "nonsense"})
        except ValueError:
            continue
        raise AssertionError(f"{bad}=nonsense was accepted")


def project() -> None:
    h = handler()
    assert h.project_of({"metadata": {"allot_project": "checkout-v2"}}) == "checkout-v2"
    assert h.project_of({"litellm_metadata": {"allot_project": "search"}}) == "search"
    assert h.project_of({"tags": ["team:x", "allot_project:infra"]}) == "infra"
    assert h.project_of({"metadata": {"tags": ["allot_project:ml"]}}) == "ml"
    assert h.project_of({"tags": ["allot_project:"], "metadata": {}}) is None
    assert (
        handler(ALLOT_PROJECT_METADATA_KEY="cost_center").project_of(
            {"metadata": {"cost_center": "cc-9"}}
        )
        == "cc-9"
    )


def estimate() -> None:
    h = handler(ALLOT_DEFAULT_MAX_TOKENS="1000")
    chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert h.estimate({**chat, "max_tokens": 100}, "acompletion") == 7 * IN + 100 * OUT
    assert h.estimate({**chat, "max_tokens": 100, "n": 3}, "acompletion") == 7 * IN + 300 * OUT
    assert h.estimate({**chat, "max_completion_tokens": 50}, "acompletion") == 7 * IN + 50 * OUT
    assert h.estimate(chat, "acompletion") == 7 * IN + 1000 * OUT  # the default
    assert h.estimate({"model": "m", "input": ["a", "b"]}, "aembedding") == 14 * IN  # input only
    h.prices_of = lambda model: (Decimal("0.0000001"), Decimal(0))
    assert h.estimate({**chat, "max_tokens": 1}, "acompletion") == Decimal("0.000001")  # ceiling


def money() -> None:
    assert to_decimal(0.1 + 0.2) == Decimal("0.30000000000000004")  # the float's own digits
    assert to_decimal(0.00033000000000000005) == Decimal("0.00033000000000000005")
    assert to_decimal(None) == 0


def no_price() -> None:
    h = AllotHandler(Settings.from_env())
    try:
        h.prices_of("no-such-model-anywhere-xyz")
    except HTTPException as exc:
        assert exc.status_code == 400 and "has no price" in exc.detail["error"], exc.detail
        return
    raise AssertionError("a model without a price was estimated")


for check in (who, project, estimate, money, no_price):
    check()
print("ok")
