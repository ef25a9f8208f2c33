"""Budget alerts: thresholds (default 50/80/90/100 %) and "projected to run out on <date>".

Each alert fires once per budget (budgets are per fiscal year): the AlertClaim row's unique
constraint is the claim, so two workers checking the same budget at once fire it once. One check
that finds several thresholds crossed (one event from 94 % past 100 %) tells people once, for the
highest; the lower ones are recorded as covered by it. A budget's thresholds already passed when
it was created or imported are recorded without telling anyone (`quiet`), and shown on the
dashboard. The owner is told in the app and by email (sent after commit, from a Celery task);
past 100 % the manager too. Team pools tell the team lead, project allocations the project lead.
"""

from datetime import date
from decimal import ROUND_FLOOR

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.urls import reverse

from budgets.models import AlertClaim, AlertDelivery, AlertKind, Budget
from budgets.rollover.holds import closed_by_rollover
from budgets.selectors import budget_burn
from common.money import percent
from notifications.kinds import Kind
from notifications.services import notify
from notifications.webhooks import webhook_publish
from people.selectors import company_settings, company_today, fiscal_year_period


def _owner_users(budget: Budget) -> list[AbstractBaseUser]:
    if budget.employee_id:
        return [budget.employee.user]
    lead = budget.team.lead if budget.team_id else budget.project.lead
    return [lead.user] if lead else []


def _manager_users(budget: Budget) -> list[AbstractBaseUser]:
    if budget.employee_id and budget.employee.manager_id:
        return [budget.employee.manager.user]
    return []


def _claim(
    budget: Budget, kind: str, threshold: int, message: str, delivery: str = AlertDelivery.SENT
) -> AlertClaim | None:
    """Insert the claim; a unique violation means someone already fired this alert."""
    try:
        with transaction.atomic():
            return AlertClaim.objects.create(
                budget=budget, kind=kind, threshold=threshold, message=message, delivery=delivery
            )
    except IntegrityError:
        return None


def _tell(budget: Budget, alert: AlertClaim, kind: str, subject: str, *, manager: bool) -> None:
    """The owner (or lead) acts where more is asked for; the manager on the person's page."""
    notify(
        _owner_users(budget),
        alert.message,
        alert=alert,
        kind=kind,
        subject=subject,
        link=reverse("approvals:requests"),
    )
    if manager and budget.employee_id:
        notify(
            _manager_users(budget),
            alert.message,
            alert=alert,
            kind=kind,
            subject=subject,
            link=reverse("person", args=[budget.employee_id]),
        )


def _threshold_message(budget: Budget, threshold: int) -> str:
    # Percentages only: the message goes to people whose transparency may hide amounts.
    return f"{budget.owner_label} has used {threshold}% of its FY{budget.fiscal_year} budget."


@transaction.atomic
def budget_alerts_check(
    *, budget: Budget, today: date | None = None, quiet: bool = False
) -> list[AlertClaim]:
    """Fire the alerts this budget has reached and not yet fired: one message for the highest
    threshold crossed. With `quiet` (a budget created or imported already past some), record
    them and tell nobody. Safe to run any number of times, from any number of workers."""
    budget = Budget.objects.select_related(
        "employee__user", "employee__manager__user", "team__lead__user", "project__lead__user"
    ).get(pk=budget.pk)
    if budget.allocated_micros <= 0:
        return []
    if closed_by_rollover(budget_ids=[budget.pk]):
        # The close carried or forfeited its unused money, and a hold freed later is forfeited
        # too, which leaves allocated close to spent: as a share that reads "100 % used" to a
        # year nobody can spend in any more. Its alerts ended with the year.
        return []
    fired_already = set(budget.alerts.values_list("kind", "threshold"))
    fired = []
    used = int(
        percent(budget.spent_micros, budget.allocated_micros, places=0, rounding=ROUND_FLOOR)
    )
    # 100 % always: past it the manager is told, whatever thresholds the budget lists.
    thresholds = sorted({*budget.thresholds(company_settings().alert_thresholds), 100})
    crossed = [t for t in thresholds if used >= t and (AlertKind.THRESHOLD, t) not in fired_already]
    for threshold in crossed:
        highest = threshold == crossed[-1]
        delivery = (
            AlertDelivery.BASELINE
            if quiet
            else (AlertDelivery.SENT if highest else AlertDelivery.COVERED)
        )
        alert = _claim(
            budget,
            AlertKind.THRESHOLD,
            threshold,
            _threshold_message(budget, threshold),
            delivery,
        )
        if alert is None:
            continue
        fired.append(alert)
        if delivery == AlertDelivery.SENT:
            subject = f"Allot: {budget.owner_label} has used {threshold}% of its budget"
            _tell(budget, alert, Kind.THRESHOLD, subject, manager=threshold >= 100)
            webhook_publish(
                "budget.threshold",
                {
                    "budget_id": budget.pk,
                    "fiscal_year": budget.fiscal_year,
                    "owner": budget.owner_label,
                    "threshold_percent": threshold,
                },
            )

    if (AlertKind.PROJECTED, 0) not in fired_already and not quiet:
        today = today or company_today()
        burn = budget_burn(budget=budget, today=today)
        year_end = fiscal_year_period(budget.fiscal_year).end
        runs_out = burn.projected_exhaustion_date
        if runs_out is not None and today <= runs_out < year_end and used < 100:
            message = (
                f"{budget.owner_label} is projected to run out on {runs_out:%B %-d, %Y} "
                "at the last 30 days' rate."
            )
            alert = _claim(budget, AlertKind.PROJECTED, 0, message)
            if alert:
                subject = f"Allot: {budget.owner_label} is projected to run out {runs_out:%b %-d}"
                _tell(budget, alert, Kind.PROJECTED, subject, manager=False)
                fired.append(alert)
    return fired


def budget_alerts_record(*, budget_ids: list[int]) -> int:
    """The thresholds these budgets already passed when they were created or imported (demo
    data, a back-fill), recorded without a message each. Returns how many were recorded."""
    return sum(
        len(budget_alerts_check(budget=budget, quiet=True))
        for budget in Budget.objects.filter(pk__in=budget_ids).order_by("pk")
    )
