"""Allot's LiteLLM callback: every proxied call is authorized against Allot's budgets before the
provider is called, and charged after it, with the cost LiteLLM computed.

Loaded by the proxy from config.yaml (`litellm_settings: callbacks:
allot_callback.proxy_handler_instance`), so this file runs inside LiteLLM's own virtual
environment (.venv-litellm), never in Allot's. Configured from the environment (docs/litellm.md):

  ALLOT_URL                 Allot's base URL, e.g. http://127.0.0.1:8000
  ALLOT_API_KEY             an Allot key with the scopes ingest and authorize
  ALLOT_TIMEOUT_SECONDS     how long one call to Allot may take (default 2)
  ALLOT_FAILURE_MODE        fail_closed (default: refuse when Allot cannot answer) or fail_open
                            (allow, with the header x-allot-enforcement and a log line)
  ALLOT_EMPLOYEE_FROM       where the employee comes from, first found wins (default
                            key_user_email,key_user_id,request_user); Allot matches the value
                            as an email or an external id
  ALLOT_PROJECT_METADATA_KEY  request metadata key naming the Allot project (default
                            allot_project); else a tag "allot_project:<code>" (same prefix)
  ALLOT_DEFAULT_MAX_TOKENS  output tokens to estimate when the request sets no max_tokens
                            (default 4096)
  ALLOT_SPOOL_PATH          the SQLite file that keeps usage until Allot has it
                            (default var/allot-litellm-spool.sqlite3)
  ALLOT_SPOOL_RETRY_SECONDS how often undelivered usage is retried (default 5)
  ALLOT_USAGE_BATCH_SECONDS usage of this long is sent in one request (default 1; 0: each
                            call sends its own at once)

Money: LiteLLM's prices and costs are floats. They are converted with Decimal(str(value)) (the
shortest repr, so 0.00033 stays 0.00033), the estimate is rounded up to the micro-dollar (a
hold never falls short by rounding), and the cost is sent as that exact decimal string; Allot
charges it rounded half-up to the micro-dollar.
"""

import asyncio
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

import aiohttp
import litellm
from allot_spool import Spool
from fastapi import HTTPException
from litellm.constants import LITELLM_PROXY_ADMIN_NAME
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("allot")

MICRO = Decimal("0.000001")
CHAT_CALLS = {"completion", "acompletion", "text_completion", "atext_completion"}
EMBEDDING_CALLS = {"embeddings", "aembedding"}
RESPONSES_CALLS = {"responses", "aresponses"}
GATED_CALLS = CHAT_CALLS | EMBEDDING_CALLS | RESPONSES_CALLS
KNOWN_EMPLOYEE_SOURCES = {"key_user_email", "key_user_id", "request_user"}


class AllotUnreachable(Exception):
    """Allot did not answer in time, or answered with a server error."""


@dataclass(frozen=True)
class Answer:
    """Allot's answer to one POST, read whole."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


@dataclass
class Settings:
    url: str
    api_key: str
    timeout: float
    fail_open: bool
    employee_from: list[str]
    project_key: str
    default_max_tokens: int
    spool_path: str
    retry_seconds: float
    batch_seconds: float

    @classmethod
    def from_env(cls) -> "Settings":
        mode = os.environ.get("ALLOT_FAILURE_MODE", "fail_closed")
        if mode not in {"fail_closed", "fail_open"}:
            raise ValueError(f"ALLOT_FAILURE_MODE must be fail_closed or fail_open, not {mode!r}")
        sources = [
            s.strip()
            for s in os.environ.get(
                "ALLOT_EMPLOYEE_FROM", "key_user_email,key_user_id,request_user"
            ).split(",")
            if s.strip()
        ]
        unknown = set(sources) - KNOWN_EMPLOYEE_SOURCES
        if unknown or not sources:
            raise ValueError(
                f"ALLOT_EMPLOYEE_FROM takes {', '.join(sorted(KNOWN_EMPLOYEE_SOURCES))}; "
                f"got {', '.join(sorted(unknown)) or 'nothing'}"
            )
        return cls(
            url=os.environ.get("ALLOT_URL", "http://127.0.0.1:8000").rstrip("/"),
            api_key=os.environ.get("ALLOT_API_KEY", ""),
            timeout=float(os.environ.get("ALLOT_TIMEOUT_SECONDS", "2")),
            fail_open=mode == "fail_open",
            employee_from=sources,
            project_key=os.environ.get("ALLOT_PROJECT_METADATA_KEY", "allot_project"),
            default_max_tokens=int(os.environ.get("ALLOT_DEFAULT_MAX_TOKENS", "4096")),
            spool_path=os.environ.get("ALLOT_SPOOL_PATH", "var/allot-litellm-spool.sqlite3"),
            retry_seconds=float(os.environ.get("ALLOT_SPOOL_RETRY_SECONDS", "5")),
            batch_seconds=float(os.environ.get("ALLOT_USAGE_BATCH_SECONDS", "1")),
        )


@dataclass
class Call:
    """What the pre-call hook decided, kept until the call's success or failure is logged."""

    employee: str
    project: str | None
    reservation_id: str | None
    hold_usd: Decimal | None
    unchecked: str | None  # why Allot was not asked (fail_open), for the header and the log


def to_decimal(value) -> Decimal:
    """A LiteLLM float (price or cost) as the decimal it prints as, never its binary expansion."""
    return Decimal(str(value or 0))


def usd_text(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def _metadata(data: dict) -> dict:
    merged = {}
    for key in ("litellm_metadata", "metadata"):
        value = data.get(key)
        if isinstance(value, dict):
            merged.update(value)
    return merged


class AllotHandler(CustomLogger):
    def __init__(self, settings: Settings | None = None):
        super().__init__()
        self.settings = settings or Settings.from_env()
        self.spool = Spool(self.settings.spool_path)
        self.calls: dict[str, Call] = {}
        self._client: aiohttp.ClientSession | None = None
        self._flusher: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None
        self._flush_lock = asyncio.Lock()
        self._prices: dict[str, tuple[float, tuple[Decimal, Decimal]]] = {}

    # ---- talking to Allot -------------------------------------------------------------------

    def client(self) -> aiohttp.ClientSession:
        """One keep-alive session for every call to Allot, made in the proxy's running loop.
        aiohttp rather than httpx: it took a third of httpx's CPU per call (1.0 against 2.8 ms
        on this machine), and the proxy's one event loop spends it on every model call."""
        if self._client is None or self._client.closed:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout),
                headers={"Authorization": f"Api-Key {self.settings.api_key}"},
            )
        if self._flusher is None or self._flusher.done():
            self._wake = asyncio.Event()
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())
        return self._client

    async def _post(self, path: str, body: dict | None = None) -> "Answer":
        """POST to Allot. Every call the callback makes is safe to repeat (authorize by request
        id, usage by event id, release by reservation id), so a connection that broke before
        the answer (a kept-alive one the server had closed) is retried once, at once; a
        timeout is not (the time is spent)."""
        url = self.settings.url.rstrip("/") + path
        for attempt in (1, 2):
            try:
                async with self.client().post(url, json=body) as response:
                    answer = Answer(response.status, await response.read())
                break
            except TimeoutError as exc:
                raise AllotUnreachable(f"timed out after {self.settings.timeout} s") from exc
            except aiohttp.ClientError as exc:  # refused, reset, closed before the answer
                if attempt == 2:
                    raise AllotUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if answer.status_code >= 500 or answer.status_code in (408, 429):
            raise AllotUnreachable(f"Allot answered {answer.status_code}")
        return answer

    # ---- who, what, how much ----------------------------------------------------------------

    def employee_of(self, user_api_key_dict, data: dict) -> str | None:
        for source in self.settings.employee_from:
            if source == "key_user_email":
                value = getattr(user_api_key_dict, "user_email", None)
            elif source == "key_user_id":
                value = getattr(user_api_key_dict, "user_id", None)
                if value == LITELLM_PROXY_ADMIN_NAME:
                    continue  # the master key's stand-in id: nobody's budget
            else:
                value = data.get("user")
            if isinstance(value, str) and value.strip():
                return value.strip()
        return None

    def project_of(self, data: dict) -> str | None:
        metadata = _metadata(data)
        value = metadata.get(self.settings.project_key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        prefix = f"{self.settings.project_key}:"
        tags = list(data.get("tags") or []) + list(metadata.get("tags") or [])
        for tag in tags:
            if isinstance(tag, str) and tag.startswith(prefix) and tag[len(prefix) :].strip():
                return tag[len(prefix) :].strip()
        return None

    def prices_of(self, model: str) -> tuple[Decimal, Decimal]:
        """(input, output) dollars per token of the model group, from LiteLLM's own table (the
        config's input_cost_per_token / output_cost_per_token, else LiteLLM's cost map); kept a
        minute per model (a price changes with the proxy's config, not per call)."""
        cached = self._prices.get(model)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        prices = self._prices_lookup(model)
        self._prices[model] = (time.monotonic() + 60, prices)
        return prices

    def _prices_lookup(self, model: str) -> tuple[Decimal, Decimal]:
        info = None
        try:
            # Not at the top: the proxy server imports this module while it starts, so the
            # router exists only once the proxy is running.
            from litellm.proxy.proxy_server import llm_router

            if llm_router is not None:
                info = llm_router.get_model_group_info(model_group=model)
        except Exception as exc:  # a model the router does not know, or a router error
            log.warning("allot: no model group info for %r: %s", model, exc)
        if info is None or info.input_cost_per_token is None:
            try:
                import litellm

                raw = litellm.get_model_info(model)
                return to_decimal(raw.get("input_cost_per_token")), to_decimal(
                    raw.get("output_cost_per_token")
                )
            except Exception as exc:
                raise HTTPException(
                    status_code=400,
                    detail={
                        "error": f"Allot cannot estimate this call: LiteLLM has no price for "
                        f"model {model!r}. Set input_cost_per_token and output_cost_per_token "
                        "in the model's litellm_params.",
                        "allot_code": "no_price",
                    },
                ) from exc
        return to_decimal(info.input_cost_per_token), to_decimal(info.output_cost_per_token or 0)

    def estimate(self, data: dict, call_type: str) -> Decimal:
        """The most this call can cost: its input tokens (counted by LiteLLM, else its bytes,
        which no tokenizer exceeds) at the input price, plus max_tokens (or the default) at the
        output price, times n choices. Rounded up to the micro-dollar."""
        model = data.get("model") or ""
        input_price, output_price = self.prices_of(model)
        if call_type in EMBEDDING_CALLS:
            text = data.get("input")
            texts = [text] if isinstance(text, str) else list(text or [])
            input_tokens = sum(self._tokens(model, text=str(t)) for t in texts)
            output_tokens = 0
        else:
            input_tokens = self._tokens(
                model, messages=data.get("messages"), text=data.get("prompt") or data.get("input")
            )
            n = data.get("n") if isinstance(data.get("n"), int) and data.get("n") > 0 else 1
            max_tokens = next(
                (
                    data[k]
                    for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")
                    if isinstance(data.get(k), int) and data[k] > 0
                ),
                self.settings.default_max_tokens,
            )
            output_tokens = max_tokens * n
        cost = input_price * input_tokens + output_price * output_tokens
        return cost.quantize(MICRO, rounding=ROUND_CEILING)

    @staticmethod
    def _tokens(model: str, *, messages=None, text=None) -> int:
        if not messages and not text:
            return 0
        try:
            if messages:
                return int(litellm.token_counter(model=model, messages=messages))
            return int(litellm.token_counter(model=model, text=str(text)))
        except Exception:  # no tokenizer for it: bytes are an upper bound on tokens
            payload = str(messages if messages else text)
            return len(payload.encode())

    # ---- the hooks --------------------------------------------------------------------------

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type):
        call_type = str(getattr(call_type, "value", call_type))
        if call_type not in GATED_CALLS:
            return data  # image, audio, moderation, ...: not priced per token (docs/litellm.md)
        call_id = str(data.get("litellm_call_id") or "")
        employee = self.employee_of(user_api_key_dict, data)
        if employee is None:
            raise HTTPException(
                status_code=403,
                detail={
                    "error": "Allot: nobody to charge this call to. Use a key that belongs to a "
                    "user with an email, or send the employee's email as `user`.",
                    "allot_code": "no_employee",
                },
            )
        project = self.project_of(data)
        estimate = self.estimate(data, call_type)
        body = {
            "employee": employee,
            "estimated_cost_usd": usd_text(estimate),
            "reserve": estimate > 0,
            "request_id": call_id[:100],
        }
        if project:
            body["project"] = project
        try:
            response = await self._post("/api/v1/authorize/", body)
        except AllotUnreachable as exc:
            if not self.settings.fail_open:
                log.warning("allot: refusing call %s: Allot unreachable (%s)", call_id, exc)
                raise HTTPException(
                    status_code=503,
                    detail={
                        "error": "Allot, which checks AI budgets, cannot be reached; the call is "
                        "refused (fail_closed). Try again shortly.",
                        "allot_code": "allot_unreachable",
                    },
                ) from exc
            log.warning("allot: allowing call %s unchecked (fail_open): %s", call_id, exc)
            self._remember(call_id, Call(employee, project, None, None, f"unreachable: {exc}"))
            return data
        answer = response.json() if response.content else {}
        if response.status_code == 401:
            log.error("allot: Allot refused ALLOT_API_KEY: %s", answer)
            raise HTTPException(
                status_code=503,
                detail={
                    "error": "Allot refused this proxy's API key (ALLOT_API_KEY); the call is "
                    "refused until the proxy is configured with a valid key.",
                    "allot_code": "allot_key_refused",
                },
            )
        if response.status_code != 200:
            raise HTTPException(
                status_code=403 if response.status_code in (403, 404) else 400,
                detail={
                    "error": f"Allot refused the call: {answer.get('detail', answer)}",
                    "allot_code": answer.get("code", "refused"),
                },
            )
        if not answer.get("allowed"):
            raise HTTPException(
                status_code=403,
                detail={"error": f"Allot: {answer.get('reason')}", "allot_code": "over_budget"},
            )
        reservation = answer.get("reservation") or {}
        self._remember(
            call_id, Call(employee, project, reservation.get("id"), estimate, unchecked=None)
        )
        return data

    def _remember(self, call_id: str, call: Call) -> None:
        self.calls[call_id] = call
        while len(self.calls) > 50_000:  # calls whose outcome was never logged: forget the oldest
            self.calls.pop(next(iter(self.calls)))

    async def async_post_call_response_headers_hook(
        self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None
    ):
        call = self.calls.get(str(data.get("litellm_call_id") or ""))
        if call is None:
            return None
        if call.unchecked:
            return {"x-allot-enforcement": "unchecked (fail_open: Allot unreachable)"}
        headers = {"x-allot-enforcement": "checked"}
        if call.reservation_id:
            headers["x-allot-reservation"] = call.reservation_id
            headers["x-allot-hold-usd"] = usd_text(call.hold_usd or Decimal(0))
        return headers

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        payload = kwargs.get("standard_logging_object") or {}
        call_id = str(payload.get("litellm_call_id") or kwargs.get("litellm_call_id") or "")
        call = self.calls.pop(call_id, None)
        if call is None:
            return  # not a call the pre-call hook saw (a call type not gated, a health check)
        cost = to_decimal(payload.get("response_cost", kwargs.get("response_cost")))
        occurred = payload.get("endTime") or payload.get("startTime")
        occurred_at = datetime.fromtimestamp(occurred, tz=UTC) if occurred else datetime.now(tz=UTC)
        event = {
            "id": f"litellm-{call_id}"[:100],
            "employee": call.employee,
            "model": str(payload.get("model_group") or payload.get("model") or "unknown")[:100],
            "input_tokens": int(payload.get("prompt_tokens") or 0),
            "output_tokens": int(payload.get("completion_tokens") or 0),
            "cost_usd": usd_text(cost),
            "occurred_at": occurred_at.isoformat(),
            "metadata": {"gateway": "litellm", "call_type": payload.get("call_type")},
        }
        if call.project:
            event["project"] = call.project
        if call.reservation_id:
            event["reservation"] = call.reservation_id
        if self.settings.batch_seconds <= 0:  # sent at once, by this call
            row_id = await asyncio.to_thread(self.spool.add, event, self._lease())  # kept first
            if row_id is not None:
                await self._deliver([(row_id, event)])
            return
        # kept first, then sent with the others of the next batch_seconds in one request:
        # fewer requests and fewer ingest transactions on the budgets authorize locks too
        await asyncio.to_thread(self.spool.add, event, 0)
        self.client()  # the sender runs
        self._wake.set()

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        payload = kwargs.get("standard_logging_object") or {}
        call_id = str(payload.get("litellm_call_id") or kwargs.get("litellm_call_id") or "")
        await self._release(call_id)

    async def async_post_call_failure_hook(
        self, request_data, original_exception, user_api_key_dict, traceback_str=None
    ):
        """Also a failure: the proxy refused the call after authorize (a parameter the provider
        does not take, another hook's refusal), which may never reach the failure log."""
        await self._release(str(request_data.get("litellm_call_id") or ""))

    async def _release(self, call_id: str) -> None:
        call = self.calls.pop(call_id, None)  # whichever failure hook comes first releases
        if call is None or not call.reservation_id:
            return
        try:
            response = await self._post(f"/api/v1/reservations/{call.reservation_id}/release/")
            if response.status_code not in (200, 409):
                log.warning("allot: release of %s: %s", call.reservation_id, response.text)
        except AllotUnreachable as exc:  # the hold expires on its own in Allot
            log.warning("allot: could not release %s (%s); it expires", call.reservation_id, exc)

    # ---- the spool --------------------------------------------------------------------------

    async def deliver(self) -> int:
        """Send what the spool holds (oldest first, in batches); returns how many Allot took.
        A row leaves the spool only once Allot has answered for it: accepted, duplicate (sent
        before, whose answer was lost), or rejected (kept aside with the reason, and logged)."""
        sent = 0
        async with self._flush_lock:
            while True:
                rows = await asyncio.to_thread(self.spool.claim, 500, self._lease())
                if not rows or not await self._deliver(rows):
                    return sent
                sent += len(rows)

    def _lease(self) -> float:
        """How long a send may hold its rows: longer than one POST with its retry can take."""
        return 3 * self.settings.timeout + 5

    async def _deliver(self, rows: list[tuple[int, dict]]) -> bool:
        """One POST of these claimed spool rows; True when Allot answered for each of them.
        A row sent again after a lost answer is a duplicate of the same event id and contents,
        which Allot counts and does not charge."""
        try:
            response = await self._post("/api/v1/usage/", {"events": [e for _, e in rows]})
        except AllotUnreachable as exc:
            log.warning("allot: %d usage event(s) kept in the spool: %s", len(rows), exc)
            await asyncio.to_thread(self.spool.unclaim, [row_id for row_id, _ in rows])
            return False
        if response.status_code != 200:
            log.error("allot: usage refused (%s): %s", response.status_code, response.text)
            await asyncio.to_thread(self.spool.unclaim, [row_id for row_id, _ in rows])
            return False
        rejected = {r.get("index"): r for r in response.json().get("rejected", [])}
        await asyncio.to_thread(
            self.spool.done,
            [row_id for i, (row_id, _) in enumerate(rows) if i not in rejected],
            {rows[i][0]: str(r.get("errors")) for i, r in rejected.items()},
        )
        for r in rejected.values():
            log.error("allot: usage event %s rejected: %s", r.get("id"), r.get("errors"))
        return True

    async def _flush_forever(self) -> None:
        """Send the spool when a call adds to it (after gathering batch_seconds of calls), and
        every retry_seconds anyway (what Allot could not take before)."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.retry_seconds)
                await asyncio.sleep(self.settings.batch_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.deliver()
            except Exception:  # never let the retry loop die
                log.exception("allot: spool delivery failed")


proxy_handler_instance = AllotHandler()
