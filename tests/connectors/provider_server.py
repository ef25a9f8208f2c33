"""A stand-in for the providers' admin APIs on 127.0.0.1, serving their published response
shapes (see test_sync.py's docstring for the addresses), with pagination and scripted failures.

Each test sets the buckets it serves (`anthropic` and `openai`, lists of bucket objects in the
provider's shape); a page holds PAGE_SIZE buckets, and next_page is an opaque token. `failures`
is a list of (status, headers) answered, in order, before the real answers resume."""

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PAGE_SIZE = 2
ANTHROPIC_PATH = "/v1/organizations/usage_report/messages"
OPENAI_PATH = "/v1/organization/usage/completions"
ANTHROPIC_COSTS_PATH = "/v1/organizations/cost_report"
OPENAI_COSTS_PATH = "/v1/organization/costs"
CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
# the directories (addresses in test_directory.py): lists paged by id, not by next_page
OPENAI_USERS_PATH = "/v1/organization/users"
ANTHROPIC_USERS_PATH = "/v1/organizations/users"
ANTHROPIC_KEYS_PATH = "/v1/organizations/api_keys"


class ProviderServer:
    def __init__(self):
        self.anthropic: list[dict] = []
        self.openai: list[dict] = []
        self.anthropic_costs: list[dict] = []
        self.openai_costs: list[dict] = []
        self.claude_code: list[dict] = []  # records; each request asks for one day
        # the directories: None answers 404 (a key that may not read them), as before they
        # were read; a list is served, PAGE_SIZE items a page
        self.openai_users: list[dict] | None = None
        self.anthropic_users: list[dict] | None = None
        self.anthropic_api_keys: list[dict] | None = None
        self.failures: list[tuple[int, dict[str, str]]] = []
        self.requests: list[dict] = []
        self.delay_seconds = 0.0
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self) -> "ProviderServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(5)

    def answer(self, path: str, query: dict[str, list[str]], headers) -> tuple[int, dict, dict]:
        with self._lock:
            self.requests.append({"path": path, "query": query, "headers": dict(headers)})
            if self.failures:
                status, extra = self.failures.pop(0)
                kind = "rate_limit_error" if status == 429 else "api_error"
                return status, extra, {"type": "error", "error": {"type": kind, "message": "no"}}
        directories = {
            OPENAI_USERS_PATH: (self.openai_users, "after"),
            ANTHROPIC_USERS_PATH: (self.anthropic_users, "after_id"),
            ANTHROPIC_KEYS_PATH: (self.anthropic_api_keys, "after_id"),
        }
        if path in directories and directories[path][0] is not None:
            items, after = directories[path]
            return 200, {}, self._list_page(items, query, after, path == OPENAI_USERS_PATH)
        if path == CLAUDE_CODE_PATH:
            wanted = query["starting_at"][0]
            records = [r for r in self.claude_code if r["date"].startswith(wanted)]
            return 200, {}, self._page(records, query, {})
        anthropic = {ANTHROPIC_PATH: self.anthropic, ANTHROPIC_COSTS_PATH: self.anthropic_costs}
        openai = {OPENAI_PATH: self.openai, OPENAI_COSTS_PATH: self.openai_costs}
        if path in anthropic:
            since = datetime.fromisoformat(query["starting_at"][0].replace("Z", "+00:00"))
            buckets = [
                b
                for b in anthropic[path]
                if datetime.fromisoformat(b["starting_at"].replace("Z", "+00:00")) >= since
            ]
            return 200, {}, self._page(buckets, query, {})
        if path in openai:
            since = int(query["start_time"][0])
            buckets = [b for b in openai[path] if b["start_time"] >= since]
            return 200, {}, self._page(buckets, query, {"object": "page"})
        return 404, {}, {"type": "error", "error": {"type": "not_found_error", "message": path}}

    @staticmethod
    def _page(buckets: list[dict], query: dict, head: dict) -> dict:
        offset = int(query.get("page", ["0"])[0].removeprefix("page-") or 0)
        chunk = buckets[offset : offset + PAGE_SIZE]
        more = offset + PAGE_SIZE < len(buckets)
        return {
            **head,
            "data": chunk,
            "has_more": more,
            "next_page": f"page-{offset + PAGE_SIZE}" if more else None,
        }

    @staticmethod
    def _list_page(items: list[dict], query: dict, after: str, openai: bool) -> dict:
        """A list endpoint's page: the items after the `after`/`after_id` one, with first_id,
        last_id and has_more (OpenAI adds object: "list")."""
        ids = [item["id"] for item in items]
        start = ids.index(query[after][0]) + 1 if after in query else 0
        limit = min(int(query.get("limit", ["20"])[0]), PAGE_SIZE)
        chunk = items[start : start + limit]
        return {
            **({"object": "list"} if openai else {}),
            "data": chunk,
            "first_id": chunk[0]["id"] if chunk else None,
            "last_id": chunk[-1]["id"] if chunk else None,
            "has_more": start + limit < len(items),
        }

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                parsed = urlparse(self.path)
                if server.delay_seconds:
                    time.sleep(server.delay_seconds)
                status, headers, body = server.answer(
                    parsed.path, parse_qs(parsed.query), self.headers
                )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


def day(number: int) -> datetime:
    """Day `number` of November 2026, midnight UTC."""
    return datetime(2026, 11, number, tzinfo=UTC)


def anthropic_bucket(number: int, results: list[dict]) -> dict:
    """One daily bucket of the messages usage report, field by field as documented."""
    return {
        "starting_at": day(number).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": day(number + 1).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": results,
    }


def anthropic_result(
    api_key_id: str,
    *,
    uncached: int,
    output: int,
    cache_read: int = 0,
    cache_5m: int = 0,
    cache_1h: int = 0,
    workspace_id: str | None = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
    model: str = "claude-sonnet-4-20250514",
) -> dict:
    return {
        "uncached_input_tokens": uncached,
        "cache_creation": {
            "ephemeral_1h_input_tokens": cache_1h,
            "ephemeral_5m_input_tokens": cache_5m,
        },
        "cache_read_input_tokens": cache_read,
        "output_tokens": output,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": api_key_id,
        "workspace_id": workspace_id,
        "model": model,
        "service_tier": None,
        "context_window": None,
    }


def openai_bucket(number: int, results: list[dict]) -> dict:
    return {
        "object": "bucket",
        "start_time": int(day(number).timestamp()),
        "end_time": int(day(number + 1).timestamp()),
        "results": results,
    }


def openai_result(
    *,
    user_id: str | None,
    input_tokens: int,
    output_tokens: int,
    cached: int = 0,
    project_id: str | None = "proj_abc",
    api_key_id: str | None = "key_abc",
    model: str = "gpt-4o-2024-08-06",
) -> dict:
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_cached_tokens": cached,
        "num_model_requests": 5,
        "project_id": project_id,
        "user_id": user_id,
        "api_key_id": api_key_id,
        "model": model,
        "batch": None,
    }


def anthropic_cost_bucket(number: int, cents: list[str]) -> dict:
    """A day of the cost report: each amount a decimal string of cents, as documented."""
    return {
        "starting_at": day(number).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": day(number + 1).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": [
            {
                "currency": "USD",
                "amount": amount,
                "workspace_id": None,
                "description": None,
                "cost_type": None,
                "context_window": None,
                "model": None,
                "service_tier": None,
                "token_type": None,
            }
            for amount in cents
        ],
    }


def openai_cost_bucket(number: int, dollars: list[float]) -> dict:
    """A day of the costs report: each amount a JSON number of dollars, as documented."""
    return {
        "object": "bucket",
        "start_time": int(day(number).timestamp()),
        "end_time": int(day(number + 1).timestamp()),
        "results": [
            {
                "object": "organization.costs.result",
                "amount": {"value": value, "currency": "usd"},
                "line_item": None,
                "project_id": None,
            }
            for value in dollars
        ],
    }


def claude_code_record(
    number: int,
    email: str,
    *,
    commits: int,
    pull_requests: int,
    added: int,
    removed: int = 0,
    accepted: int = 0,
    rejected: int = 0,
    cents: str = "0",
) -> dict:
    """One user's day in the Claude Code usage report, field by field as documented."""
    return {
        "date": day(number).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": {"type": "user_actor", "email_address": email},
        "organization_id": "12345678-1234-5678-1234-567812345678",
        "customer_type": "api",
        "terminal_type": "vscode",
        "core_metrics": {
            "num_sessions": 3,
            "lines_of_code": {"added": added, "removed": removed},
            "commits_by_claude_code": commits,
            "pull_requests_by_claude_code": pull_requests,
        },
        "tool_actions": {
            "edit_tool": {"accepted": accepted, "rejected": rejected},
            "multi_edit_tool": {"accepted": 0, "rejected": 0},
            "write_tool": {"accepted": 0, "rejected": 0},
            "notebook_edit_tool": {"accepted": 0, "rejected": 0},
        },
        "model_breakdown": [
            {
                "model": "claude-sonnet-4-20250514",
                "tokens": {"input": 100, "output": 200, "cache_read": 0, "cache_creation": 0},
                "estimated_cost": {"currency": "USD", "amount": cents},
            }
        ],
    }


def openai_user(user_id: str, email: str) -> dict:
    """An organization user, field by field as documented (List users)."""
    return {
        "object": "organization.user",
        "id": user_id,
        "name": email.split("@")[0].title(),
        "email": email,
        "role": "reader",
        "added_at": 1711471533,
    }


def anthropic_user(user_id: str, email: str) -> dict:
    """An organization member, field by field as documented (List Users)."""
    return {
        "type": "user",
        "id": user_id,
        "email": email,
        "name": email.split("@")[0].title(),
        "role": "developer",
        "added_at": "2024-10-30T23:58:27.427722Z",
    }


def anthropic_api_key(key_id: str, created_by: str, creator_type: str = "user") -> dict:
    """An API key, field by field as documented (List API Keys)."""
    return {
        "type": "api_key",
        "id": key_id,
        "name": "Developer Key",
        "created_at": "2024-10-30T23:58:27.427722Z",
        "created_by": {"id": created_by, "type": creator_type},
        "partial_key_hint": "sk-ant-api03-R2D...igAA",
        "status": "active",
        "workspace_id": "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ",
    }
