"""The company overview (HR's, finance's and the admin's home): this year's spend against
budget in total and by department, the budgets that moved most over the last 30 days, the
requests waiting, the budgets past an alert line, and the usage nobody is mapped to yet.
Every figure is integer micro-units read from the budgets' stored totals and the daily rollup."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    ExpressionWrapper,
    F,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from approvals.models import OPEN_STATES, ApprovalRequest
from budgets.calculations import utilisation_percent
from budgets.models import Budget
from budgets.selectors import _window_spend
from common.money import Micros

TOP_MOVERS = 5
ALERT_PERCENT = 90

# Usage held until its owner is known lives in an app above budgets (connectors' unassigned
# queue); that app registers how to count it here (ConnectorsConfig.ready), so budgets never
# imports it. Each source answers (how many, how much).
UNASSIGNED_SOURCES: list[Callable[[], tuple[int, Micros]]] = []


def unassigned_source_add(source: Callable[[], tuple[int, Micros]]) -> None:
    if source not in UNASSIGNED_SOURCES:
        UNASSIGNED_SOURCES.append(source)


@dataclass(frozen=True)
class SpendLine:
    label: str
    allocated_micros: Micros
    spent_micros: Micros

    @property
    def percent(self):
        return utilisation_percent(
            allocated_micros=self.allocated_micros, spent_micros=self.spent_micros
        )


@dataclass(frozen=True)
class Mover:
    budget: Budget
    last_30_days_micros: Micros


@dataclass(frozen=True)
class CompanyOverview:
    fiscal_year: int
    total: SpendLine
    departments: list[SpendLine]
    movers: list[Mover]
    requests_waiting: int
    over_alert: list[Budget]
    over_alert_count: int
    over_budget_count: int
    unassigned_count: int
    unassigned_micros: Micros


def company_overview(*, fiscal_year: int, today: date) -> CompanyOverview:
    """A handful of grouped queries, however many budgets or events there are."""
    year = Budget.objects.filter(fiscal_year=fiscal_year)
    grouped = (
        year.annotate(
            group=Case(
                When(project__isnull=False, then=Value("Projects")),
                default=Coalesce(
                    "employee__team__department__name",
                    "team__department__name",
                    Value("No department"),
                ),
                output_field=CharField(),
            )
        )
        .values("group")
        .annotate(allocated=Sum("allocated_micros"), spent=Sum("spent_micros"))
        .order_by("-spent", "group")
    )
    departments = [
        SpendLine(row["group"], row["allocated"] or 0, row["spent"] or 0) for row in grouped
    ]
    total = SpendLine(
        "Company",
        sum(d.allocated_micros for d in departments),
        sum(d.spent_micros for d in departments),
    )
    window = _window_spend(list(year.values_list("pk", flat=True)), today)
    top = sorted(((v, k) for k, v in window.items() if v), reverse=True)[:TOP_MOVERS]
    by_id = year.select_related("employee__user", "team", "project").in_bulk([k for _, k in top])
    movers = [Mover(by_id[k], v) for v, k in top]
    # spent * 100 >= allocated * 90 in integers, in the database; nothing allocated is not counted.
    flagged = list(
        year.filter(allocated_micros__gt=0)
        .alias(
            spent_100=ExpressionWrapper(F("spent_micros") * 100, output_field=BigIntegerField()),
            line=ExpressionWrapper(
                F("allocated_micros") * ALERT_PERCENT, output_field=BigIntegerField()
            ),
        )
        .filter(spent_100__gte=F("line"))
        .select_related("employee__user", "team", "project")
    )
    flagged.sort(key=lambda b: (b.allocated_micros - b.spent_micros, b.pk))
    held = [source() for source in UNASSIGNED_SOURCES]
    return CompanyOverview(
        fiscal_year=fiscal_year,
        total=total,
        departments=departments,
        movers=movers,
        requests_waiting=ApprovalRequest.objects.filter(state__in=OPEN_STATES).count(),
        over_alert=flagged[:TOP_MOVERS],
        over_alert_count=len(flagged),
        over_budget_count=sum(1 for b in flagged if b.spent_micros > b.allocated_micros),
        unassigned_count=sum(count for count, _ in held),
        unassigned_micros=sum(micros for _, micros in held),
    )
