"""Demo data of the apps above budgets (a pilot and its productivity, say): each registers a
function in its AppConfig.ready, and seed_demo runs them after the budgets' demo, so budgets
never imports them."""

from collections.abc import Callable
from datetime import date

DemoExtra = Callable[[date], str]  # today -> a line for seed_demo's output
_EXTRAS: list[DemoExtra] = []


def demo_extra_register(extra: DemoExtra) -> None:
    if extra not in _EXTRAS:
        _EXTRAS.append(extra)


def demo_extras_run(today: date) -> list[str]:
    return [extra(today) for extra in _EXTRAS]
