"""The per-key rate limit: a sliding window over two counters, on a clock the test moves."""

from types import SimpleNamespace

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from budgets.api_auth import PerKeyThrottle
from budgets.models import IntegrationKey
from tests.factories import api_key

START = 6_000_000.0  # a period boundary of a one-minute rate


@pytest.fixture
def clock(monkeypatch):
    now = SimpleNamespace(t=START)
    monkeypatch.setattr(PerKeyThrottle, "timer", lambda self: now.t)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"api": "10/min"})
    return now


@pytest.fixture
def caller(db):
    key = IntegrationKey.objects.get_from_key(api_key())
    return SimpleNamespace(auth=key, user=None, META={"REMOTE_ADDR": "127.0.0.1"})


def calls(caller, n: int) -> list[bool]:
    return [PerKeyThrottle().allow_request(caller, None) for _ in range(n)]


def test_the_rate_is_kept_within_a_period_and_a_refusal_says_how_long(clock, caller):
    clock.t = START + 15
    assert calls(caller, 10) == [True] * 10

    throttle = PerKeyThrottle()
    assert throttle.allow_request(caller, None) is False
    assert throttle.wait() == pytest.approx(45)


def test_a_refused_call_is_not_counted(clock, caller):
    calls(caller, 10)
    assert calls(caller, 50) == [False] * 50

    prefix = caller.auth.prefix
    assert cache.get(f"throttle_api_key:{prefix}:{int(START // 60)}") == 10


def test_the_last_period_counts_by_how_much_of_it_is_still_in_the_window(clock, caller):
    clock.t = START + 59
    calls(caller, 10)

    clock.t = START + 60.5  # just past the boundary: nearly all of the last period counts
    throttle = PerKeyThrottle()
    assert throttle.allow_request(caller, None) is False
    clock.t = START + 60 + 30  # half of the last period has slid out: 5 more fit
    assert calls(caller, 6) == [True] * 5 + [False]

    clock.t = START + 120 + 1  # the first period is out of the window, the 5 of the second in
    assert calls(caller, 10) == [True] * 5 + [False] * 5


def test_wait_is_when_enough_of_the_last_period_has_slid_out(clock, caller):
    clock.t = START + 30
    calls(caller, 10)
    clock.t = START + 60 + 6  # the last period weighs 0.9: 9 of 10 counted, 1 fits
    assert calls(caller, 2) == [True, False]

    throttle = PerKeyThrottle()
    throttle.allow_request(caller, None)
    # one more fits once 10 * (1 - t/60) + 1 + 1 <= 10, that is at t = 12 s into the period
    assert throttle.wait() == pytest.approx(6)


def test_keys_count_apart(clock, caller, db):
    other = SimpleNamespace(auth=IntegrationKey.objects.get_from_key(api_key()), user=None)
    calls(caller, 10)

    assert calls(other, 10) == [True] * 10
    assert calls(caller, 1) == [False]
