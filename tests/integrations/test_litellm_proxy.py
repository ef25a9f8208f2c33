"""The LiteLLM integration end to end: a real Allot (gunicorn, its own PostgreSQL database), the
real LiteLLM proxy from .venv-litellm with Allot's callback, and the official OpenAI client.

Slow (two servers and a migration, about a minute), so it runs once: on CI's PostgreSQL pass.
On the SQLite pass it is skipped; on PostgreSQL a missing .venv-litellm fails it (`make
litellm-install` makes it), never skips it. Every server listens on 127.0.0.1 and is stopped by
the fixture that started it. Models answer through LiteLLM's mock_response, except the
`counted-*` ones, which call a tiny OpenAI-compatible server of this file that counts its calls
(so "the provider was never called" is seen, not assumed).
"""

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Barrier

import pytest

ROOT = Path(__file__).resolve().parents[2]
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith(("postgres://", "postgresql://"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not ON_POSTGRES, reason="runs once, on the PostgreSQL pass (a real Allot server on it)"
    ),
]

IN_PRICE, OUT_PRICE = Decimal("0.000003"), Decimal("0.000015")  # Allot's claude-sonnet-4 price
MICRO = Decimal("0.000001")
MASTER_KEY = f"sk-{uuid.uuid4().hex}{uuid.uuid4().hex}"  # the proxy refuses to start without one


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-4000:]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listening on {port}:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---- a provider that counts its calls (and can be held back) --------------------------------


class CountingProvider:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that answers 10 prompt and 20 completion
    tokens, counts each call, and waits for `gate` when the model's name says so."""

    def __init__(self):
        self.calls = 0
        self.arrived = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                provider.calls += 1
                provider.arrived.set()
                if "gated" in body.get("model", ""):
                    provider.gate.wait(30)
                if "failing" in body.get("model", ""):
                    self.send_error(500, "the provider broke")
                    return
                answer = json.dumps(
                    {
                        "id": f"chatcmpl-{uuid.uuid4().hex}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "counted"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


# ---- Allot ----------------------------------------------------------------------------------


class Allot:
    def __init__(self, env: dict, tmp: Path):
        self.env, self.tmp, self.port = env, tmp, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> None:
        log = self.tmp / f"allot-{uuid.uuid4().hex[:6]}.log"
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn and arguments
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "config.wsgi:application",
                "--workers=2",
                "--threads=4",
                f"--bind=127.0.0.1:{self.port}",
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, self.process, log)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def freeze(self, frozen: bool) -> None:
        """Hang (SIGSTOP) or resume (SIGCONT) the server and its workers: slow, not down."""
        pids = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids += [int(pid) for pid in children.read_text().split()]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def allot(tmp_path_factory):
    """A fresh database of its own (dropped at the end), migrated and seeded, and its server."""
    import psycopg

    assert LITELLM.exists(), (
        f"{LITELLM} is missing: run `make litellm-install` (the PostgreSQL pass never skips this)"
    )
    tmp = tmp_path_factory.mktemp("litellm")
    base = DATABASE_URL.rsplit("/", 1)[0]
    name = f"allot_litellm_it_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": f"{base}/{name}",
        "DEBUG": "false",
        "CACHE_URL": "locmemcache://",
        "ALLOT_API_RATE": "100000/min",
    }
    server = Allot(env, tmp)
    try:
        _manage(env, "migrate", "--noinput", "-v0")
        out = _manage(
            env, "shell", "-c", "from tests.integrations.litellm_site import site; site()"
        )
        server.key = json.loads(out.strip().splitlines()[-1])["key"]
        server.db_url = env["DATABASE_URL"]
        server.start()
        yield server
    finally:
        server.stop()
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _query(allot, sql: str, *params):
    import psycopg

    with psycopg.connect(allot.db_url) as conn:
        return conn.execute(sql, params).fetchall()


def spent_reserved(allot, email: str, project: str | None = None) -> tuple[int, int]:
    if project:
        rows = _query(
            allot,
            "SELECT b.spent_micros, b.reserved_micros FROM budgets_budget b "
            "JOIN people_project p ON p.id = b.project_id WHERE p.code = %s",
            project,
        )
    else:
        rows = _query(
            allot,
            "SELECT b.spent_micros, b.reserved_micros FROM budgets_budget b "
            "JOIN people_employee e ON e.id = b.employee_id "
            "JOIN auth_user u ON u.id = e.user_id WHERE u.email = %s",
            email,
        )
    return rows[0] if rows else (0, 0)


def usage_events(allot, email: str) -> list[tuple]:
    return _query(
        allot,
        "SELECT ev.event_id, ev.input_tokens, ev.output_tokens, ev.cost_micros, "
        "ev.reservation_id, r.state FROM budgets_usageevent ev "
        "JOIN people_employee e ON e.id = ev.employee_id "
        "JOIN auth_user u ON u.id = e.user_id "
        "LEFT JOIN budgets_reservation r ON r.id = ev.reservation_id WHERE u.email = %s",
        email,
    )


def wait_until(check, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def micros(cost: str | Decimal) -> int:
    """What Allot charges for LiteLLM's cost: the decimal as sent, half-up to the micro."""
    return int((Decimal(cost) / MICRO).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# ---- the proxy ------------------------------------------------------------------------------


class Proxy:
    def __init__(self, allot, provider, tmp: Path, mode: str):
        self.port = _free_port()
        self.spool = tmp / f"spool-{mode}.sqlite3"
        config = tmp / f"config-{mode}.yaml"
        example = (ROOT / "integrations" / "litellm" / "config.yaml").read_text()
        counted = "\n".join(
            f"""  - model_name: {name}
    litellm_params:
      model: openai/{name}
      api_base: http://127.0.0.1:{provider.port}/v1
      api_key: not-a-real-key
      input_cost_per_token: {in_price}
      output_cost_per_token: 0.000015"""
            for name, in_price in (
                ("counted-sonnet", "0.000003"),
                ("counted-gated-sonnet", "0.000003"),
                ("race-sonnet", "0"),
                ("counted-failing-sonnet", "0.000003"),
            )
        )
        unpriced = """  - model_name: unpriced
    litellm_params:
      model: openai/no-such-model-anywhere
      mock_response: "never"
      api_key: not-used"""
        config.write_text(
            example.replace("model_list:\n", f"model_list:\n{counted}\n{unpriced}\n", 1)
        )
        if mode == "fail_open":  # the example config itself, as `make litellm` loads it
            config = ROOT / "integrations" / "litellm" / "config.yaml"
        self.log = tmp / f"litellm-{mode}.log"
        env = {
            # not Allot's database: LiteLLM would take DATABASE_URL for its own
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "ALLOT_URL": allot.url,
            "ALLOT_API_KEY": allot.key,
            "ALLOT_FAILURE_MODE": mode,
            # fail_closed serves the 20-at-once test on 2 busy cores; fail_open the hung Allot
            "ALLOT_TIMEOUT_SECONDS": "5" if mode == "fail_closed" else "1",
            "ALLOT_SPOOL_PATH": str(self.spool),
            "ALLOT_SPOOL_RETRY_SECONDS": "0.5",
            "ALLOT_EMPLOYEE_FROM": "request_user",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of LiteLLM's price list
            "PYTHONPATH": str(ROOT / "integrations" / "litellm"),
        }
        self.process = subprocess.Popen(  # noqa: S603 - the pinned proxy and our config
            [
                str(LITELLM),
                "--config",
                str(config),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=tmp,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_until_up(self) -> None:
        _wait_for_port(self.port, self.process, self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/health/liveliness")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.3)
        raise AssertionError(self.log.read_text()[-4000:])

    def client(self):
        from openai import OpenAI

        return OpenAI(base_url=self.url, api_key=MASTER_KEY, max_retries=0, timeout=30)

    def spooled(self) -> dict:
        with sqlite3.connect(self.spool) as db:
            return dict(db.execute("SELECT state, count(*) FROM usage GROUP BY state").fetchall())


@pytest.fixture(scope="module")
def provider():
    counting = CountingProvider()
    yield counting
    counting.stop()


@pytest.fixture(scope="module")
def proxies(allot, provider, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proxies")
    started = {mode: Proxy(allot, provider, tmp, mode) for mode in ("fail_closed", "fail_open")}
    try:
        for proxy in started.values():
            proxy.wait_until_up()
        yield started
    finally:
        for proxy in started.values():
            _stop(proxy.process)


@pytest.fixture
def proxy(proxies):
    return proxies["fail_closed"]


def chat(client, user: str, model: str = "mock-sonnet", **extra):
    return client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=extra.pop("max_tokens", 100),
        user=user,
        **extra,
    )


# ---- the tests ------------------------------------------------------------------------------


def test_a_call_within_budget_is_charged_exactly_what_litellm_computed(allot, proxy):
    raw = chat(proxy.client(), "ok@example.com")
    cost = raw.headers["x-litellm-response-cost"]
    reservation = raw.headers["x-allot-reservation"]

    assert raw.http_response.status_code == 200
    assert raw.parse().choices[0].message.content.startswith("Hello from the mock model")
    events = wait_until(lambda: usage_events(allot, "ok@example.com"))
    assert len(events) == 1
    _, input_tokens, output_tokens, cost_micros, reservation_id, state = events[0]
    assert cost_micros == micros(cost) > 0
    assert cost_micros == micros(input_tokens * IN_PRICE + output_tokens * OUT_PRICE)
    assert (str(reservation_id), state) == (reservation, "settled")
    assert spent_reserved(allot, "ok@example.com") == (cost_micros, 0)  # the hold is gone


def test_the_hold_is_the_prompt_plus_max_tokens_times_n_at_the_models_prices(proxy):
    def hold(**extra) -> Decimal:  # counted-sonnet: an OpenAI-style provider, which takes n
        answer = chat(proxy.client(), "ok@example.com", model="counted-sonnet", **extra)
        return Decimal(answer.headers["x-allot-hold-usd"])

    one, three = hold(max_tokens=100), hold(max_tokens=100, n=3)
    unbounded = proxy.client().chat.completions.with_raw_response.create(
        model="counted-sonnet",
        messages=[{"role": "user", "content": "Say hello."}],
        user="ok@example.com",
    )

    assert three - one == 2 * 100 * OUT_PRICE  # each of the n choices may use max_tokens
    prompt = one - 100 * OUT_PRICE
    assert 0 < prompt < 50 * IN_PRICE  # a few tokens of prompt at the input price
    # without max_tokens: ALLOT_DEFAULT_MAX_TOKENS (4096)
    assert Decimal(unbounded.headers["x-allot-hold-usd"]) == prompt + 4096 * OUT_PRICE


def test_a_hard_budget_without_room_refuses_with_allots_reason_before_the_provider(
    allot, proxy, provider
):
    from openai import PermissionDeniedError

    before = provider.calls
    with pytest.raises(PermissionDeniedError) as refused:
        chat(proxy.client(), "broke@example.com", model="counted-sonnet")

    assert "Hard limit reached" in str(refused.value)
    assert provider.calls == before  # the provider was never called
    assert spent_reserved(allot, "broke@example.com") == (0, 0)
    # and the same model does reach the provider for someone with room
    assert (
        chat(proxy.client(), "ok@example.com", model="counted-sonnet").http_response.status_code
        == 200
    )
    assert provider.calls == before + 1


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        ("nobody@example.com", "No employee with email or external id"),
        ("nobudget@example.com", "has no budget for FY"),
        ("gone@example.com", "is not an active employee"),
    ],
)
def test_who_cannot_spend_hears_why(proxy, user, reason):
    from openai import PermissionDeniedError

    with pytest.raises(PermissionDeniedError) as refused:
        chat(proxy.client(), user)
    assert reason in str(refused.value)


def test_a_model_without_a_price_is_a_clear_400_not_a_crash(proxy):
    from openai import BadRequestError

    with pytest.raises(BadRequestError) as refused:
        chat(proxy.client(), "ok@example.com", model="unpriced")
    assert "has no price for model 'unpriced'" in str(refused.value)


def test_20_concurrent_calls_on_room_for_exactly_k_admit_k(allot, proxy):
    from openai import PermissionDeniedError

    # a hold is max_tokens (20) at $15 per million, and input is free on race-sonnet, so each
    # call's hold equals its cost: room for K holds is room for K calls
    k, hold = 7, Decimal(20) * OUT_PRICE
    _manage(
        allot.env,
        "shell",
        "-c",
        "from tests.integrations.litellm_site import allocate; "
        f"allocate('race@example.com', '{k * hold}')",
    )
    barrier = Barrier(20)

    def one(_):
        client = proxy.client()
        barrier.wait()
        try:
            chat(client, "race@example.com", model="race-sonnet", max_tokens=20)
            return True
        except PermissionDeniedError as exc:
            assert "Hard limit reached" in str(exc)
            return False

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(one, range(20)))

    assert sum(outcomes) == k
    events = wait_until(lambda: len(usage_events(allot, "race@example.com")) == k and True)
    assert events
    spent, reserved = spent_reserved(allot, "race@example.com")
    assert (spent, reserved) == (micros(k * hold), 0)  # all of it, and not a micro more


def test_a_streamed_completion_is_charged_once_with_its_final_counts(allot, proxy):
    stream = proxy.client().chat.completions.create(
        model="mock-sonnet",
        messages=[{"role": "user", "content": "Stream a hello."}],
        max_tokens=100,
        user="stream@example.com",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage = next(c.usage for c in reversed(chunks) if c.usage)
    assert len(chunks) > 2

    events = wait_until(lambda: usage_events(allot, "stream@example.com"))
    time.sleep(1)  # a second charge, if there were one, would have arrived by now
    events = usage_events(allot, "stream@example.com")
    assert len(events) == 1
    _, input_tokens, output_tokens, cost_micros, _, state = events[0]
    assert (input_tokens, output_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert cost_micros == micros(input_tokens * IN_PRICE + output_tokens * OUT_PRICE)
    assert state == "settled"
    assert spent_reserved(allot, "stream@example.com") == (cost_micros, 0)


def test_a_failed_call_gives_its_hold_back_at_once(allot, proxy, provider):
    from openai import APIStatusError

    before = provider.calls
    with pytest.raises(APIStatusError):
        chat(proxy.client(), "fail@example.com", model="counted-failing-sonnet")

    assert provider.calls > before  # it was authorized and sent, and the provider failed
    released = wait_until(
        lambda: (
            _query(
                allot,
                "SELECT r.state FROM budgets_reservation r JOIN people_employee e "
                "ON e.id = r.employee_id JOIN auth_user u ON u.id = e.user_id WHERE u.email = %s",
                "fail@example.com",
            )
            == [("released",)]
        )
    )
    assert released
    assert spent_reserved(allot, "fail@example.com") == (0, 0)
    assert usage_events(allot, "fail@example.com") == []


def test_a_call_litellm_refuses_after_authorize_gives_its_hold_back(allot, proxy):
    from openai import BadRequestError

    # authorize holds, then LiteLLM refuses: the Anthropic-style mock takes no `n`
    with pytest.raises(BadRequestError):
        chat(proxy.client(), "refused@example.com", n=2)

    assert wait_until(
        lambda: (
            _query(
                allot,
                "SELECT r.state FROM budgets_reservation r JOIN people_employee e "
                "ON e.id = r.employee_id JOIN auth_user u ON u.id = e.user_id WHERE u.email = %s",
                "refused@example.com",
            )
            == [("released",)]
        )
    )
    assert spent_reserved(allot, "refused@example.com") == (0, 0)


def test_the_project_comes_from_request_metadata_or_a_tag(allot, proxy):
    by_metadata = chat(
        proxy.client(),
        "proj@example.com",
        extra_body={"metadata": {"allot_project": "checkout-v2"}},
    )
    by_tag = chat(
        proxy.client(), "proj@example.com", extra_body={"tags": ["allot_project:checkout-v2"]}
    )
    cost = micros(by_metadata.headers["x-litellm-response-cost"]) + micros(
        by_tag.headers["x-litellm-response-cost"]
    )

    assert wait_until(lambda: len(usage_events(allot, "proj@example.com")) == 2)
    assert spent_reserved(allot, "proj@example.com", project="checkout-v2") == (cost, 0)
    assert spent_reserved(allot, "proj@example.com") == (0, 0)  # not the personal budget


def test_embeddings_are_gated_and_charged_too(allot, proxy):
    from openai import PermissionDeniedError

    raw = proxy.client().embeddings.with_raw_response.create(
        model="mock-embedding", input=["hello world"], user="emb@example.com"
    )
    assert raw.http_response.status_code == 200
    events = wait_until(lambda: usage_events(allot, "emb@example.com"))
    assert len(events) == 1 and events[0][3] == micros(raw.headers["x-litellm-response-cost"])
    # 20,000 distinct words, at least 20,000 tokens: $0.0004 at $0.02 a million, over $0.0001
    with pytest.raises(PermissionDeniedError) as refused:
        proxy.client().embeddings.create(
            model="mock-embedding",
            input=[" ".join(f"w{i}" for i in range(20_000))],
            user="broke@example.com",
            encoding_format="float",
        )
    assert "Hard limit reached" in str(refused.value)


def test_allot_down_mid_run_follows_the_mode_and_the_spool_delivers_once(allot, proxies, provider):
    from openai import APIStatusError

    closed, open_ = proxies["fail_closed"], proxies["fail_open"]
    # a call is authorized (a hold in Allot), then Allot stops while the provider answers
    provider.gate.clear()
    provider.arrived.clear()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(chat, closed.client(), "down@example.com", "counted-gated-sonnet")
        assert provider.arrived.wait(20)
        held = spent_reserved(allot, "down@example.com")
        allot.stop()
        provider.gate.set()
        finished = pending.result(timeout=30)
    assert held[1] > 0 and finished.http_response.status_code == 200
    first_cost = micros(finished.headers["x-litellm-response-cost"])

    # while Allot is down: fail_closed refuses, fail_open allows and says so
    with pytest.raises(APIStatusError) as refused:
        chat(closed.client(), "down@example.com")
    unchecked = chat(open_.client(), "open@example.com")
    assert refused.value.status_code == 503 and "cannot be reached" in str(refused.value)
    assert unchecked.http_response.status_code == 200
    assert unchecked.headers["x-allot-enforcement"].startswith("unchecked")
    assert wait_until(lambda: closed.spooled().get("pending") == 1)
    assert wait_until(lambda: open_.spooled().get("pending") == 1)

    # Allot comes back: the spools deliver, each event once, and the balances are exact
    allot.start()
    assert wait_until(lambda: not closed.spooled() and not open_.spooled(), seconds=30)
    time.sleep(1.5)  # more retries of the spool loop: none may charge again
    down = usage_events(allot, "down@example.com")
    opened = usage_events(allot, "open@example.com")
    assert len(down) == 1 and down[0][5] == "settled"  # the hold made before the stop is settled
    assert spent_reserved(allot, "down@example.com") == (first_cost, 0)
    assert len(opened) == 1 and opened[0][4] is None  # no hold: Allot was not asked
    assert spent_reserved(allot, "open@example.com") == (
        micros(unchecked.headers["x-litellm-response-cost"]),
        0,
    )


def test_a_hung_allot_times_out_into_the_mode_and_its_late_answer_charges_once(allot, proxies):
    open_ = proxies["fail_open"]  # ALLOT_TIMEOUT_SECONDS=1
    allot.freeze(True)
    try:
        started = time.monotonic()
        unchecked = chat(open_.client(), "slow@example.com")
        waited = time.monotonic() - started
        assert unchecked.http_response.status_code == 200
        assert unchecked.headers["x-allot-enforcement"].startswith("unchecked")
        assert waited < 4, waited  # the timeout, not the hang, decided
        assert wait_until(lambda: open_.spooled().get("pending") == 1)
    finally:
        allot.freeze(False)
    # the hung server now also answers the authorize and the post it was sent while frozen;
    # the spool sends the event again: one charge. (The late authorize holds its estimate until
    # the hold expires: the proxy had stopped waiting for its reservation id; docs/litellm.md)
    assert wait_until(lambda: not open_.spooled(), seconds=30)
    time.sleep(1.5)
    events = usage_events(allot, "slow@example.com")
    cost = micros(unchecked.headers["x-litellm-response-cost"])
    assert len(events) == 1 and events[0][3] == cost
    assert spent_reserved(allot, "slow@example.com")[0] == cost
