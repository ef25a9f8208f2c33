"""The manager's team page (`/team/`, and its CSV `/team/export.csv`): three sections, each
budget in exactly one of them, with totals computed from the rows shown.

1. People: the personal budget of everyone below the manager, direct and indirect.
2. Team pools: the pools of the teams the manager, or someone below them, leads.
3. Projects: the allocations of the projects the manager, or someone below them, leads.

Each dollar is counted once: every budget has one owner (`budget_exactly_one_owner`), so it
sits in one section; an approved project allocation or pool top-up is new money, and money
moved from a pool to a project (a transfer) leaves the pool's allocation as it enters the
project's. Usage draws one budget per event, so spending is not counted twice either.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from budgets.calculations import runs_out_within_year, utilisation_percent
from budgets.display import MoneyDisplay, money_display_for_team
from budgets.models import Budget
from budgets.selectors import BudgetBalance, budget_balances, personal_balances
from common.money import Micros, micros_to_dollars, quantize_cents
from people.labels import person_label, shared_display_names
from people.models import Employee, Project, Team, Transparency
from people.selectors import employee_reports

PEOPLE, POOLS, PROJECTS = "people", "team pools", "projects"
SECTION_TITLES = {PEOPLE: "People", POOLS: "Team pools", PROJECTS: "Project allocations"}
# The columns a page may be sorted by (`?sort=spent`, `?sort=-spent` for descending).
SORT_KEYS = ("name", "allocated", "spent", "left", "used")


@dataclass(frozen=True)
class TeamRow:
    section: str
    name: str
    email: str
    team_name: str
    balance: BudgetBalance | None
    display: MoneyDisplay
    runs_out: date | None
    employee: Employee | None = None
    direct: bool = True

    @property
    def visible(self) -> bool:
        """The viewer sees this row's amounts (in dollars or in tokens)."""
        return self.display.shows_tokens

    def amount(self, micros: Micros) -> str | None:
        return self.display.amount(micros) if self.balance else None

    @property
    def allocated(self) -> str | None:
        return self.balance and self.amount(self.balance.allocated_micros)

    @property
    def spent(self) -> str | None:
        return self.balance and self.amount(self.balance.spent_micros)

    @property
    def held(self) -> str | None:
        return self.balance and self.amount(self.balance.reserved_micros)

    @property
    def left(self) -> str | None:
        return self.balance and self.amount(self.balance.remaining_micros)

    @property
    def used(self) -> Decimal | None:
        return self.balance and self.balance.utilisation_percent

    @property
    def width(self) -> Decimal:
        return min(self.used or 0, 100)

    def sort_value(self, key: str):
        """What the row sorts by, or None (sorted last) when it has no budget or the viewer
        may not see that amount (an order would tell what the page hides)."""
        if key == "name":
            return self.name.lower()
        if self.balance is None:
            return None
        if key == "used":
            return self.balance.utilisation_percent
        if not self.visible:
            return None
        return {
            "allocated": self.balance.allocated_micros,
            "spent": self.balance.spent_micros,
            "left": self.balance.remaining_micros,
        }[key]


@dataclass(frozen=True)
class Total:
    """Sums of the rows counted; `complete` False when some rows' amounts are hidden from the
    viewer, so it is only the total of the rows they can see in dollars."""

    allocated_micros: Micros
    spent_micros: Micros
    reserved_micros: Micros
    remaining_micros: Micros
    display: MoneyDisplay
    complete: bool
    counted: int
    rows: int

    @property
    def allocated(self) -> str | None:
        return self.display.amount(self.allocated_micros)

    @property
    def spent(self) -> str | None:
        return self.display.amount(self.spent_micros)

    @property
    def held(self) -> str | None:
        return self.display.amount(self.reserved_micros)

    @property
    def left(self) -> str | None:
        return self.display.amount(self.remaining_micros)

    @property
    def used(self) -> Decimal | None:
        return utilisation_percent(
            allocated_micros=self.allocated_micros, spent_micros=self.spent_micros
        )

    @property
    def label(self) -> str:
        if self.complete:
            return "Total"
        return f"Total of the {self.counted} of {self.rows} rows you can see in dollars"


def rows_total(rows: Iterable[TeamRow]) -> Total | None:
    """The sum of the rows shown. All in one display (all dollars, or all tokens): every row
    counts. Mixed, or some hidden: only the rows shown in dollars, and it says so. None when
    nothing can be added up."""
    budgeted = [row for row in rows if row.balance is not None]
    if not budgeted:
        return None
    modes = {row.display.transparency for row in budgeted}
    display, complete, counted = budgeted[0].display, True, budgeted
    if len(modes) > 1 or not display.shows_tokens:
        counted = [row for row in budgeted if row.display.shows_dollars]
        complete = False
        if not counted:
            return None
        display = counted[0].display
    return Total(
        allocated_micros=sum(row.balance.allocated_micros for row in counted),
        spent_micros=sum(row.balance.spent_micros for row in counted),
        reserved_micros=sum(row.balance.reserved_micros for row in counted),
        remaining_micros=sum(row.balance.remaining_micros for row in counted),
        display=display,
        complete=complete,
        counted=len(counted),
        rows=len(budgeted),
    )


@dataclass(frozen=True)
class Sort:
    key: str | None
    descending: bool

    @classmethod
    def parse(cls, text: str | None) -> "Sort":
        """`name`, `-spent`, ...; anything else is ignored (the page's own order)."""
        text = (text or "").strip()
        descending = text.startswith("-")
        key = text[1:] if descending else text
        if key not in SORT_KEYS:
            return cls(None, False)
        return cls(key, descending)

    @property
    def param(self) -> str:
        return "" if self.key is None else ("-" if self.descending else "") + self.key

    def apply(self, rows: list[TeamRow]) -> list[TeamRow]:
        if self.key is None:
            return rows
        known = [row for row in rows if row.sort_value(self.key) is not None]
        unknown = [row for row in rows if row.sort_value(self.key) is None]
        known.sort(key=lambda row: row.name.lower())  # ties keep name order, both ways
        known.sort(key=lambda row: row.sort_value(self.key), reverse=self.descending)
        return known + sorted(unknown, key=lambda row: row.name.lower())


@dataclass(frozen=True)
class Section:
    key: str
    rows: list[TeamRow]
    total: Total | None

    @property
    def title(self) -> str:
        return SECTION_TITLES[self.key]

    @property
    def has_budgets(self) -> bool:
        return any(row.balance is not None for row in self.rows)


@dataclass(frozen=True)
class TeamPage:
    manager: Employee
    fiscal_year: int
    sections: list[Section]
    grand_total: Total | None
    sort: Sort

    @property
    def has_rows(self) -> bool:
        return any(section.rows for section in self.sections)

    @property
    def has_budgets(self) -> bool:
        return any(section.has_budgets for section in self.sections)


def _people_rows(viewer, manager, reports, *, fiscal_year, year_end, sees_everything, shared):
    balances = personal_balances(employees=reports, fiscal_year=fiscal_year)
    rows = []
    for report in reports:
        balance = balances.get(report.pk)
        rows.append(
            TeamRow(
                section=PEOPLE,
                name=person_label(report, shared),
                email=report.user.email,
                team_name=report.team.name if report.team else "",
                balance=balance,
                display=money_display_for_team(
                    viewer, report.team, sees_everything=sees_everything
                ),
                runs_out=balance
                and runs_out_within_year(balance.projected_exhaustion_date, year_end),
                employee=report,
                direct=report.manager_id == manager.pk,
            )
        )
    return rows


def _owned_rows(viewer, budgets: list[Budget], *, section, year_end, sees_everything):
    rows = []
    for balance in budget_balances(budgets):
        owner = balance.budget.owner
        team = owner if isinstance(owner, Team) else None
        rows.append(
            TeamRow(
                section=section,
                name=owner.name if team else str(owner),
                email="",
                team_name=team.name if team else "",
                balance=balance,
                display=money_display_for_team(viewer, team, sees_everything=sees_everything),
                runs_out=runs_out_within_year(balance.projected_exhaustion_date, year_end),
            )
        )
    return sorted(rows, key=lambda row: row.name.lower())


def team_page(
    *,
    viewer,
    manager: Employee,
    fiscal_year: int,
    year_end: date,
    sees_everything: bool,
    sort: Sort,
) -> TeamPage:
    """The page's rows, sorted within each section, with each section's total and the grand
    total, all from the rows themselves (a total is the sum of its parts)."""
    reports = employee_reports(manager)
    leads = [manager.pk, *(report.pk for report in reports)]
    teams = Team.objects.filter(lead_id__in=leads)
    projects = Project.objects.filter(lead_id__in=leads)
    owned = Budget.objects.filter(fiscal_year=fiscal_year).select_related("team", "project")
    common = {"year_end": year_end, "sees_everything": sees_everything}
    sections = [
        Section(PEOPLE, _people_rows(viewer, manager, reports, fiscal_year=fiscal_year,
                                     shared=shared_display_names(), **common), None),
        Section(POOLS, _owned_rows(viewer, list(owned.filter(team__in=teams)),
                                   section=POOLS, **common), None),
        Section(PROJECTS, _owned_rows(viewer, list(owned.filter(project__in=projects)),
                                      section=PROJECTS, **common), None),
    ]  # fmt: skip
    sections = [
        Section(section.key, sort.apply(section.rows), rows_total(section.rows))
        for section in sections
    ]
    every_row = [row for section in sections for row in section.rows]
    return TeamPage(manager, fiscal_year, sections, rows_total(every_row), sort)


CSV_HEADER = [
    "section",
    "name",
    "email",
    "team",
    "allocated_usd",
    "spent_usd",
    "held_usd",
    "left_usd",
    "percent_used",
    "runs_out",
    "amounts_shown_as",
]
SHOWN_AS = {
    Transparency.TRANSPARENT: "dollars",
    Transparency.TOKENS_ONLY: "tokens only (no dollars)",
    Transparency.ABSTRACTED: "share used only",
}


def _dollars(micros: Micros, display: MoneyDisplay) -> Decimal | None:
    """Exact dollars to the cent (from the micros, half up), only where dollars may be seen."""
    return quantize_cents(micros_to_dollars(micros)) if display.shows_dollars else None


def team_csv_rows(page: TeamPage) -> list[list[object]]:
    """The page's rows and totals, in its order, one line each (cells not yet made safe)."""
    lines: list[list[object]] = [list(CSV_HEADER)]
    for section in page.sections:
        for row in section.rows:
            b = row.balance
            amounts = (
                (b.allocated_micros, b.spent_micros, b.reserved_micros, b.remaining_micros)
                if b
                else ()
            )
            money = [_dollars(micros, row.display) for micros in amounts] or [None] * 4
            lines.append(
                [
                    section.key,
                    row.name,
                    row.email,
                    row.team_name,
                    *money,
                    row.used,
                    row.runs_out and row.runs_out.isoformat(),
                    SHOWN_AS[row.display.transparency],
                ]
            )
        for total in (section.total,) if section.total else ():
            lines.append(_total_line(section.key, total))
    if page.grand_total:
        lines.append(_total_line("all sections", page.grand_total))
    return lines


def _total_line(section: str, total: Total) -> list[object]:
    return [
        section,
        total.label,
        "",
        "",
        *(
            _dollars(micros, total.display)
            for micros in (
                total.allocated_micros,
                total.spent_micros,
                total.reserved_micros,
                total.remaining_micros,
            )
        ),
        total.used,
        None,
        SHOWN_AS[total.display.transparency],
    ]
