"""Demo data of the apps above budgets (a pilot and its productivity, say): each registers a
function in its AppConfig.ready, and seed_demo runs them after the budgets' demo, so budgets
never imports them."""

from collections.abc import Callable
from datetime import date

DemoExtra = Callable[[date], str]  # today -> a line for seed_demo's output
_EXTRAS: list[DemoExtra] = []


def demo_extra_register(seed: DemoExtra) -> None:
    if seed not in _EXTRAS:
        _EXTRAS.append(seed)


def demo_extras_run(today: date) -> list[str]:
    # not named `extra`: bandit takes any call of that name for QuerySet.extra (B610)
    return [seed(today) for seed in _EXTRAS]
