"""How much of the money a viewer may see, by the company's transparency setting.

*transparent*: dollars and tokens; *tokens only*: tokens at the reference rate, no dollars;
*abstracted*: only how far through the budget, no amounts. Finance, HR and superusers always
see everything.
"""

from dataclasses import dataclass
from decimal import Decimal

from budgets.calculations import tokens_at_rate
from common.money import Micros, format_usd, format_usd_short
from people.models import Team, Transparency
from people.roles import FINANCE, HR
from people.selectors import company_settings


@dataclass(frozen=True)
class MoneyDisplay:
    transparency: str
    usd_per_token: Decimal

    @property
    def shows_dollars(self) -> bool:
        return self.transparency == Transparency.TRANSPARENT

    @property
    def shows_tokens(self) -> bool:
        return self.transparency in (Transparency.TRANSPARENT, Transparency.TOKENS_ONLY)

    def tokens(self, micros: Micros) -> str:
        return f"{tokens_at_rate(micros, self.usd_per_token):,} tokens"

    def amount(self, micros: Micros) -> str | None:
        """The amount as this viewer may see it, or None when amounts are hidden."""
        if self.shows_dollars:
            return format_usd(micros)
        if self.shows_tokens:
            return self.tokens(micros)
        return None

    def chart_value(self, micros: Micros) -> str:
        if self.shows_dollars:
            return format_usd(micros)
        return _short_tokens(tokens_at_rate(micros, self.usd_per_token))

    def chart_label(self, micros: Micros) -> str:
        """Short, for a value drawn on a chart ('$12.3k'); chart_value is the tooltip's."""
        if self.shows_dollars:
            return format_usd_short(micros)
        return _short_tokens(tokens_at_rate(micros, self.usd_per_token))


def _short_tokens(tokens: int) -> str:
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if tokens >= size:
            return f"{Decimal(tokens) / size:.1f}{suffix}"
    return str(tokens)


def viewer_sees_everything(viewer) -> bool:

    return bool(viewer.is_superuser or viewer.groups.filter(name__in=[FINANCE, HR]).exists())


def money_display_for(viewer, employee, *, sees_everything: bool | None = None) -> MoneyDisplay:
    """What `viewer` may see of `employee`'s money: the team's (or company's) transparency, or
    everything for Finance, HR and superusers."""

    return money_display_for_team(viewer, employee.team, sees_everything=sees_everything)


def money_display_for_team(
    viewer, team: Team | None, *, sees_everything: bool | None = None
) -> MoneyDisplay:
    """What `viewer` may see of money under a team's transparency (None: the company's, as for
    a project's budget), or everything for Finance, HR and superusers."""
    settings_row = company_settings()
    transparency = settings_row.transparency_for(team)
    if sees_everything if sees_everything is not None else viewer_sees_everything(viewer):
        transparency = Transparency.TRANSPARENT
    return MoneyDisplay(transparency, settings_row.reference_rate_usd_per_token)
