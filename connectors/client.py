"""HTTP for the providers' admin APIs: one GET with bounded backoff, and the pages of a report.

Backoff: a 429, a 5xx (Anthropic's 529 "overloaded" included) or a connection failure is tried
again, waiting what the response's Retry-After says (in seconds; both providers document the
header on 429) when it says it, else an exponential wait; each wait is capped, and so is the
number of tries, so a provider that keeps refusing fails the run instead of hanging it."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common.errors import AllotError

MAX_TRIES = 6
FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 60.0
TIMEOUT_SECONDS = 60
MAX_PAGES = 10_000  # a next_page that never ends is a provider bug, not a year of usage


class ProviderError(AllotError):
    """The provider refused, or kept failing after the tries allowed."""


@dataclass
class Client:
    base_url: str
    headers: dict[str, str]
    sleep: Callable[[float], None] = time.sleep
    waits: list[float] = field(default_factory=list)  # each wait taken, for the progress line

    def get(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        """GET base_url + path with `params` (repeated names allowed, e.g. group_by[]) and the
        decoded JSON body, trying again on 429, 5xx and connection failures."""
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        if not url.startswith(("https://", "http://")):
            raise ProviderError(f"Not an HTTP address: {self.base_url!r}.", field="base_url")
        for attempt in range(1, MAX_TRIES + 1):
            request = urllib.request.Request(url, headers=self.headers)  # noqa: S310 (checked)
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310  # nosec B310 (scheme checked above)
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                retryable = error.code == 429 or error.code >= 500
                if not retryable or attempt == MAX_TRIES:
                    raise ProviderError(
                        f"{path} answered {error.code}: {_error_text(error)}",
                        code="provider_refused",
                    ) from error
                wait = retry_after_seconds(error.headers.get("Retry-After"), attempt)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt == MAX_TRIES:
                    raise ProviderError(
                        f"{path} could not be reached: {error}", code="provider_down"
                    ) from error
                wait = retry_after_seconds(None, attempt)
            except json.JSONDecodeError as error:
                raise ProviderError(f"{path} answered with no JSON.") from error
            self.waits.append(wait)
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(
        self, path: str, params: list[tuple[str, str]]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        """Each page of a report, numbered from 1, following next_page while has_more."""
        page_token = None
        for number in range(1, MAX_PAGES + 1):
            page_params = [*params, ("page", page_token)] if page_token else params
            body = self.get(path, page_params)
            yield number, body
            page_token = body.get("next_page")
            if not body.get("has_more") or not page_token:
                return
        raise ProviderError(f"{path} gave more than {MAX_PAGES:,} pages; stopped.")


def retry_after_seconds(header: str | None, attempt: int) -> float:
    """The wait before try `attempt + 1`: Retry-After's seconds when given (a date form is
    treated as absent), else 1, 2, 4... seconds; never more than MAX_WAIT_SECONDS."""
    if header:
        try:
            return min(max(float(header), 0.0), MAX_WAIT_SECONDS)
        except ValueError:
            pass
    return min(FIRST_WAIT_SECONDS * 2 ** (attempt - 1), MAX_WAIT_SECONDS)


def _error_text(error: urllib.error.HTTPError) -> str:
    """The provider's own message ({"error": {"message": ...}} on both), never our request."""
    try:
        body = json.loads(error.read().decode("utf-8") or "{}")
    except (ValueError, OSError):
        return error.reason or ""
    message = body.get("error", {}) if isinstance(body, dict) else {}
    return str(message.get("message", "") if isinstance(message, dict) else message)[:300]
