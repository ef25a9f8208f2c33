"""A person's level changed mid-year (a promotion, a level down): the one service the admin,
the import and SCIM call. The level, and what later years' allocations start from, change at
once, in the history with who and from→to; what it does to this year's budget follows the
company's `level_change_policy`, carried out by the handler an app above registers (approvals:
a ledger entry at once, or a request whose approval posts it), so people imports neither
budgets nor approvals. The same change twice changes (and posts) once."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from common.errors import AllotError
from common.money import Micros, format_usd
from people.models import Employee, Level, LevelChangePolicy
from people.selectors import company_settings, company_today, current_fiscal_year
from people.selectors import fiscal_year_period as year_period

# How each policy is named in the sentences the admin, the import and SCIM show.
POLICY_WORDS = {
    LevelChangePolicy.AUTOMATIC: "automatic",
    LevelChangePolicy.APPROVAL: "through approval",
    LevelChangePolicy.NEXT_YEAR: "next year only",
}


@dataclass(frozen=True)
class LevelChange:
    """One level change as planned: the annual amounts are what each year's allocation starts
    from before and after (an agreed amount moves by the difference of the levels' bands)."""

    employee: Employee
    old_level: Level
    new_level: Level
    effective: date
    policy: str
    source: str
    annual_before_micros: Micros
    annual_after_micros: Micros

    @property
    def annual_difference_micros(self) -> Micros:
        return self.annual_after_micros - self.annual_before_micros

    @property
    def heading(self) -> str:
        return f"Level {self.old_level} → {self.new_level} from {self.effective:%Y-%m-%d}"

    @property
    def policy_words(self) -> str:
        return POLICY_WORDS[LevelChangePolicy(self.policy)]


@dataclass(frozen=True)
class LevelChangeOutcome:
    """What a level change did (or, previewed, would do) this year: `amount_micros` signed,
    `posted` whether a ledger entry was made, `request_id` the approval request it opened."""

    change: LevelChange | None
    sentence: str
    amount_micros: Micros = 0
    posted: bool = False
    request_id: int | None = None


# (change, who acts, preview only) -> outcome: registered by approvals at start-up.
LevelChangeHandler = Callable[[LevelChange, AbstractBaseUser | None, bool], LevelChangeOutcome]
_HANDLERS: list[LevelChangeHandler] = []


def level_change_handler_register(handler: LevelChangeHandler) -> None:
    _HANDLERS[:] = [handler]


def signed_usd(amount_micros: Micros) -> str:
    """+$1,234.00 or −$1,234.00, as the preview and the results say it."""
    sign = "−" if amount_micros < 0 else "+"
    return f"{sign}{format_usd(abs(amount_micros))}"


def level_change_effective(effective: date | None) -> date:
    """The day a level change applies from: given (this fiscal year or later), else today."""
    effective = effective or company_today()
    this_year = year_period(current_fiscal_year())
    if effective < this_year.start:
        raise AllotError(
            f"A level change applies from a day in FY{current_fiscal_year()} or later "
            f"(from {this_year.start:%Y-%m-%d}).",
            field="level_effective_from",
        )
    return effective


def level_change_plan(
    *, employee: Employee, new_level: Level, effective: date | None = None, source: str = ""
) -> LevelChange | None:
    """The change as it would be made (None when the person is at that level already). It
    applies from a day in this fiscal year or later; a day before it is refused."""
    if employee.level_id == new_level.pk:
        return None
    effective = level_change_effective(effective)
    old_level = employee.level
    difference = new_level.default_annual_budget_micros - old_level.default_annual_budget_micros
    before = employee.annual_budget_due_micros
    after = new_level.default_annual_budget_micros
    if employee.annual_budget_micros is not None:
        after = max(employee.annual_budget_micros + difference, 0)
    return LevelChange(
        employee=employee,
        old_level=old_level,
        new_level=new_level,
        effective=effective,
        policy=company_settings().level_change_policy,
        source=source,
        annual_before_micros=before,
        annual_after_micros=after,
    )


def _handled(change: LevelChange, acting_user: AbstractBaseUser | None, preview: bool):
    if not _HANDLERS:
        return LevelChangeOutcome(change, f"{change.heading}: nothing posted this year.")
    return _HANDLERS[0](change, acting_user, preview)


def employee_level_change_preview(
    *, employee: Employee, new_level: Level, effective: date | None = None
) -> LevelChangeOutcome | None:
    """What the change would do, said before it is saved (None: no change). Writes nothing."""
    change = level_change_plan(employee=employee, new_level=new_level, effective=effective)
    return None if change is None else _handled(change, None, True)


@transaction.atomic
def employee_level_change(
    *,
    employee: Employee,
    new_level: Level,
    effective: date | None = None,
    acting_user: AbstractBaseUser | None,
    source: str,
) -> LevelChangeOutcome:
    """Move a person to a level from a day: the level and the agreed annual amount (when they
    have one) change under the row's lock, with a history row naming who, from→to and the
    source ("admin", "import", "SCIM"); then this year's budget as the policy says."""
    locked = (
        Employee.objects.select_for_update().select_related("level", "user").get(pk=employee.pk)
    )
    change = level_change_plan(
        employee=locked, new_level=new_level, effective=effective, source=source
    )
    if change is None:
        return LevelChangeOutcome(None, f"{locked} is at level {new_level} already: no change.")
    locked.level = new_level
    fields = ["level"]
    if locked.annual_budget_micros is not None:
        locked.annual_budget_micros = change.annual_after_micros
        fields.append("annual_budget_micros")
    locked._history_user = acting_user
    locked._change_reason = f"{change.heading} ({source})"[:100]
    locked.save(update_fields=fields)
    employee.level, employee.annual_budget_micros = new_level, locked.annual_budget_micros
    return _handled(change, acting_user, False)
