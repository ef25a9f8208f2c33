"""The engineer's dashboard, the manager's team page, the company overview (web, not admin)."""

import csv
from datetime import date
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from budgets.calculations import runs_out_within_year, tokens_at_rate
from budgets.cumulative import budget_cumulative_spend
from budgets.display import money_display_for, viewer_sees_everything
from budgets.models import OwnerKind, RolloverRun, UsageCategory
from budgets.overview import company_overview
from budgets.paid_rate import PaidRate, paid_rate
from budgets.selectors import (
    alerts_reached,
    corrected_price_ids,
    employee_balance,
    employee_monthly_spend,
    employee_recent_usage,
    employee_spend_by,
    event_cost_now,
    repriced_spend,
)
from budgets.team_page import SORT_KEYS, Sort, team_csv_rows, team_page
from common.charts import bar_list, column_chart, cumulative_chart
from common.csvsafe import spreadsheet_row
from common.money import format_usd, percent
from notifications.selectors import notification_digest_chosen, notifications_recent
from notifications.services import notification_preference_set, notifications_mark_read
from people.labels import employee_choice_label, person_label_for_request
from people.models import Employee, Transparency
from people.selectors import (
    company_today,
    current_fiscal_year,
    fiscal_year_period,
    user_can_see_employee,
)


def _percent(part: int, whole: int) -> Decimal:
    """A share of the allocation to one place, for the abstracted charts (0 when none)."""
    return Decimal(0) if whole <= 0 else percent(part, whole, places=1)


def _reference_rates(display, fiscal_year: int) -> tuple | None:
    """Last year's and this year's reference rates when prices changed at the rollover."""
    rates = (
        RolloverRun.objects.filter(fiscal_year=fiscal_year - 1)
        .values_list("reference_rate_before", "reference_rate_after")
        .first()
    )
    if not rates or None in rates or rates[0] == rates[1] or not display.shows_tokens:
        return None
    return rates


def _budget_rows(
    balances, display, *, fiscal_year: int, year_end: date, paid: PaidRate | None = None
) -> list[dict]:
    rates = _reference_rates(display, fiscal_year)
    reached = alerts_reached(budget_ids=[b.budget.pk for b in balances])

    def tokens_left(micros: int) -> str | None:
        if not display.shows_tokens:
            return None
        if paid is None or not display.shows_dollars:  # tokens-only pages keep one convention
            return display.tokens(micros)
        return f"{tokens_at_rate(micros, paid.usd_per_token):,} tokens"

    def carried(b, *, left: bool = False):
        carried_micros = b.budget.carried_over_micros
        if not carried_micros or (left and b.budget.carryover_expired_on):
            return None
        # Spending draws carried-over money first.
        return display.amount(max(0, carried_micros - b.spent_micros) if left else carried_micros)

    return [
        {
            "carried": carried(b),
            "carried_left": carried(b, left=True),
            "carried_expires": b.budget.carryover_expires_on,
            "tokens_new_rate": rates and f"{tokens_at_rate(b.remaining_micros, rates[1]):,}",
            "tokens_last_rate": rates and f"{tokens_at_rate(b.remaining_micros, rates[0]):,}",
            "label": OwnerKind(b.owner_kind).label,
            "owner": b.budget.owner,
            "percent": b.utilisation_percent,
            "width": min(b.utilisation_percent or 0, 100),
            "allocated": display.amount(b.allocated_micros),
            "spent": display.amount(b.spent_micros),
            "remaining": display.amount(b.remaining_micros),
            "reserved": b.reserved_micros and display.amount(b.reserved_micros),
            "tokens_left": tokens_left(b.remaining_micros),
            "burn": display.amount(b.burn_rate_micros_per_day),
            "runs_out": runs_out_within_year(b.projected_exhaustion_date, year_end),
            "enforcement": b.budget.get_enforcement_display(),
            "alerts": reached.get(b.budget.pk, []),
        }
        for b in balances
    ]


def _cumulative_chart(balances, display, chart_value, chart_label):
    """The personal budget's running spend, its projection and its allocation as a line."""
    personal = next((b.budget for b in balances if b.owner_kind == OwnerKind.EMPLOYEE), None)
    if personal is None:
        return None
    series = budget_cumulative_spend(budget=personal)

    def scaled(micros):
        if micros is None or display.transparency != Transparency.ABSTRACTED:
            return micros
        return _percent(micros, series.allocated_micros)  # a share of the budget, no amount

    return {
        "chart": cumulative_chart(
            [m.strftime("%b") for m in series.months],
            [scaled(v) for v in series.spent],
            [scaled(v) for v in series.projected],
            limit=scaled(series.allocated_micros),
            format_value=chart_value,
            format_label=chart_label,
            title="Spend against the budget, with the projection to year end",
            total=scaled(series.spent_micros),
        ),
        "year_end": series.projected_year_end_micros is not None
        and chart_value(scaled(series.projected_year_end_micros)),
        "over": (series.projected_year_end_micros or 0) > series.allocated_micros,
    }


def _dashboard(request: HttpRequest, employee: Employee, *, own: bool) -> HttpResponse:
    fiscal_year = current_fiscal_year()
    display = money_display_for(request.user, employee)
    balances = employee_balance(employee=employee, fiscal_year=fiscal_year)
    allocated = sum(b.allocated_micros for b in balances)

    abstracted = display.transparency == Transparency.ABSTRACTED

    def chart_value(micros):
        if abstracted:
            return f"{micros}%"
        return display.chart_value(micros)

    def chart_label(micros):
        if display.transparency == Transparency.ABSTRACTED:
            return f"{micros}%"
        return display.chart_label(micros)

    def scaled(micros: int):
        # Abstracted: a share of the whole allocation, never an amount.
        if display.transparency == Transparency.ABSTRACTED:
            return _percent(micros, allocated)
        return micros

    # Price corrections post per budget; the charts are the employee's own usage, so each
    # event's share of them is added here (read once for the three charts and the list).
    price_ids = corrected_price_ids()
    repriced = repriced_spend(employee=employee, fiscal_year=fiscal_year, price_ids=price_ids)
    spend = {"employee": employee, "fiscal_year": fiscal_year, "repriced": repriced}
    months = employee_monthly_spend(**spend)
    year_end = fiscal_year_period(fiscal_year).end
    categories = dict(UsageCategory.choices)
    by_category = employee_spend_by(**spend, field="category", limit=None)  # nine at most
    by_model = employee_spend_by(**spend, field="model_name")
    paid = paid_rate(employee=employee) if display.shows_dollars else None
    rows = _budget_rows(balances, display, fiscal_year=fiscal_year, year_end=year_end, paid=paid)
    # Every chart of the year's usage adds up to the same spend (abstracted: each part is a
    # rounded share, so a chart's total is its parts').
    year_spend = None if abstracted else sum(v for _, v in months)
    context = {
        "cumulative": _cumulative_chart(balances, display, chart_value, chart_label),
        "paid_rate": paid,
        "employee": employee,
        "own": own,
        "fiscal_year": fiscal_year,
        "display": display,
        "rows": rows,
        "month_chart": column_chart(
            [(m.strftime("%b"), scaled(v)) for m, v in months],
            format_value=chart_value,
            format_label=chart_label,
            title="Spend by month",
            total=year_spend,
        ),
        "category_chart": bar_list(
            [(categories.get(c, c), scaled(v)) for c, v in by_category],
            format_value=chart_value,
            title="Spend by category",
            total=year_spend,
        ),
        "model_chart": bar_list(
            [(m, scaled(v)) for m, v in by_model],
            format_value=chart_value,
            title="Spend by model",
            total=year_spend,
        ),
        "recent": [
            {
                "event": event,
                "cost": display.amount(cost),
                "charged": cost != event.cost_micros and display.amount(event.cost_micros),
                "paid_by": OwnerKind(event.budget.owner_kind).label,
            }
            for event in employee_recent_usage(employee=employee)
            for cost in [event_cost_now(event, price_ids)]
        ],
        "notifications": notifications_recent(user=employee.user) if own else [],
        "daily_digest": own and notification_digest_chosen(user=employee.user),
    }
    return render(request, "budgets/dashboard.html", context)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    employee = Employee.objects.select_related("user", "team").filter(user=request.user).first()
    if employee is None:
        if viewer_sees_everything(request.user):
            return company(request)
        return render(request, "budgets/no_employee.html", status=200)
    return _dashboard(request, employee, own=True)


@login_required
def company(request: HttpRequest) -> HttpResponse:
    """The company overview: HR's, finance's and superusers' home (budgets.overview)."""
    if not viewer_sees_everything(request.user):
        raise PermissionDenied("The company overview is for HR, finance and administrators.")
    fiscal_year = current_fiscal_year()
    overview = company_overview(fiscal_year=fiscal_year, today=company_today())
    return render(
        request,
        "budgets/company.html",
        {
            "overview": overview,
            "fiscal_year": fiscal_year,
            "department_chart": bar_list(
                [(d.label, d.spent_micros) for d in overview.departments if d.spent_micros],
                format_value=format_usd,
                title="Spend by department",
                total=overview.total.spent_micros,
            ),
        },
    )


@login_required
def person(request: HttpRequest, employee_id: int) -> HttpResponse:
    employee = get_object_or_404(Employee.objects.select_related("user", "team"), pk=employee_id)
    if employee.user_id == request.user.pk:
        return redirect("dashboard")
    if not user_can_see_employee(request.user, employee):
        # The same answer as for an id that does not exist: nobody learns who works here.
        raise Http404("No such person among those you can see.")
    return _dashboard(request, employee, own=False)


class _BadTeamQuery(Exception):
    """A query string the team page cannot read: answered 400 with its message."""


def _team_manager(request: HttpRequest) -> Employee | None:
    """Whose team the page shows: `?manager=<id>` (anyone who may see that person: above them
    in the chain, HR, finance, superusers; anyone else gets the 404 of an unknown id), else
    the viewer's own. None: the viewer has no employee record."""
    chosen = request.GET.get("manager", "").strip()
    if not chosen:
        return Employee.objects.select_related("user").filter(user=request.user).first()
    if not (chosen.isascii() and chosen.isdigit() and len(chosen) <= 18):  # a bigint at most
        raise _BadTeamQuery("manager: give the id of an employee (a whole number).")
    manager = Employee.objects.select_related("user").filter(pk=int(chosen)).first()
    if manager is None or not user_can_see_employee(request.user, manager):
        raise Http404("No such person among those you can see.")
    return manager


def _team_page_or_refusal(request: HttpRequest):
    """The page's rows for this viewer, or the answer to give instead (a 403 or the chooser)."""
    sees_everything = viewer_sees_everything(request.user)
    try:
        manager = _team_manager(request)
    except _BadTeamQuery as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    if manager is not None:
        fiscal_year = current_fiscal_year()
        page = team_page(
            viewer=request.user,
            manager=manager,
            fiscal_year=fiscal_year,
            year_end=fiscal_year_period(fiscal_year).end,
            sees_everything=sees_everything,
            sort=Sort.parse(request.GET.get("sort")),
        )
        if page.has_rows or request.GET.get("manager", "").strip():
            return page
    if sees_everything:
        managers = Employee.objects.filter(reports__isnull=False).distinct()
        choices = [(m.pk, employee_choice_label(m)) for m in managers.select_related("user")]
        return render(request, "budgets/team_choose.html", {"managers": choices})
    raise PermissionDenied("The team page is for managers: you have no reports.")


def _sort_links(page, request: HttpRequest) -> dict[str, dict]:
    """Each sortable column's link (the other direction when it is the current one) and its
    aria-sort, keeping the chosen manager."""
    links = {}
    for key in SORT_KEYS:
        current = page.sort.key == key
        target = Sort(key, descending=current and not page.sort.descending)
        query = request.GET.copy()
        query["sort"] = target.param
        links[key] = {
            "href": f"?{query.urlencode()}",
            "aria": ("descending" if page.sort.descending else "ascending") if current else None,
        }
    return links


@login_required
def team(request: HttpRequest) -> HttpResponse:
    """The manager's team page: people, team pools, projects (budgets.team_page)."""
    page = _team_page_or_refusal(request)
    if isinstance(page, HttpResponse):
        return page
    query = request.GET.copy()
    export = f"{reverse('team_export')}?{query.urlencode()}" if query else reverse("team_export")
    return render(
        request,
        "budgets/team.html",
        {
            "page": page,
            "own": page.manager.user_id == request.user.pk,
            "manager_label": person_label_for_request(page.manager, request),
            "sort_links": _sort_links(page, request),
            "export_url": export,
        },
    )


@login_required
def team_export(request: HttpRequest) -> HttpResponse:
    """The team page as CSV: the same rows, order and checks, every cell formula-safe."""
    page = _team_page_or_refusal(request)
    if isinstance(page, HttpResponse):
        if page.status_code == 400:
            return page
        raise PermissionDenied("Choose a manager: /team/export.csv?manager=<id>.")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"team-{page.manager.pk}-FY{page.fiscal_year}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    for line in team_csv_rows(page):
        writer.writerow(spreadsheet_row(line))
    return response


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    notifications_mark_read(user=request.user)
    return redirect("dashboard")


@login_required
@require_POST
def notifications_digest(request: HttpRequest) -> HttpResponse:
    """A person's own choice only: one email per message, or one digest a day."""
    choice = request.POST.get("daily_digest")
    if choice not in ("on", "off"):
        return HttpResponse('daily_digest: send "on" or "off".', status=400)
    notification_preference_set(user=request.user, daily_digest=choice == "on")
    return redirect("dashboard")
