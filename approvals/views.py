"""Managers decide in these pages (not the admin); requesters ask and follow their requests.
Every page and action checks on the server who may see or do it."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from approvals.delegation import stand_in_refusal
from approvals.delegation_services import delegation_create, delegation_end
from approvals.forms import DecisionForm, DelegationForm, RequestForm
from approvals.models import (
    KINDS_FOR_A_PERSON,
    ApprovalRequest,
    Delegation,
    RequestKind,
    RequestState,
)
from approvals.selectors import (
    decided_by,
    delegations_given,
    inbox_steps,
    requests_visible_to,
    user_can_see_request,
)
from approvals.services import (
    may_decide,
    request_decide,
    request_submit,
    request_withdraw,
)
from budgets.calculations import runs_out_within_year
from budgets.display import money_display_for
from budgets.selectors import employee_balance, employee_monthly_spend
from common.charts import column_chart
from common.errors import AllotError
from common.money import format_usd
from people.models import Employee
from people.selectors import (
    company_settings,
    current_fiscal_year,
    fiscal_year_period,
    user_can_see_employee,
)


def _me(request: HttpRequest) -> Employee | None:
    return Employee.objects.select_related("user", "team").filter(user=request.user).first()


def _balance_rows(viewer, employee: Employee | None) -> list[dict]:
    if employee is None:
        return []
    display = money_display_for(viewer, employee)
    fiscal_year = current_fiscal_year()
    year_end = fiscal_year_period(fiscal_year).end
    return [
        {
            "label": f"{b.budget.owner_label}",
            "percent": b.utilisation_percent,
            "remaining": display.amount(b.remaining_micros),
            "burn": display.amount(b.burn_rate_micros_per_day),
            "runs_out": runs_out_within_year(b.projected_exhaustion_date, year_end),
        }
        for b in employee_balance(employee=employee, fiscal_year=fiscal_year)
    ]


def _permanent_details(data: dict) -> dict:
    """A permanent increase's day it applies from (the engine checks it is in this year)."""
    if data["kind"] != RequestKind.PERMANENT_INCREASE or not data.get("effective_from"):
        return {}
    return {"effective_from": data["effective_from"].isoformat()}


def _transfer_details(data: dict) -> dict:
    """A transfer's two budgets (the engine checks the year, the owners and what is left)."""
    if data["kind"] != RequestKind.TRANSFER:
        return {}
    return {
        "source": data["source"] and data["source"].pk,
        "destination": data["destination"] and data["destination"].pk,
    }


@login_required
def requests_mine(request: HttpRequest) -> HttpResponse:
    me = _me(request)
    form = RequestForm(request.POST or None, me=me)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = request_submit(
                kind=data["kind"],
                requester=request.user,
                amount_micros=data["amount"],
                reason=data["reason"],
                employee=data["employee"] if data["kind"] in KINDS_FOR_A_PERSON else me,
                team=data["team"] if data["kind"] == RequestKind.TEAM_TOPUP else None,
                project=data["project"] if data["kind"] == RequestKind.PROJECT_ALLOCATION else None,
                until=data["until"],
                details={
                    "members": [m.pk for m in data["members"]],
                    "expected_impact": data["expected_impact"],
                    **_permanent_details(data),
                    **_transfer_details(data),
                },
            )
        except AllotError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, f"{created} is submitted and waits for its first approver.")
            return redirect("approvals:detail", pk=created.pk)
    mine = (
        requests_visible_to(request.user)
        .filter(requester=request.user)
        .select_related("employee__user")
        .prefetch_related("steps__approver")
    )
    return render(
        request,
        "approvals/requests.html",
        {
            "form": form,
            "requests": mine,
            "balances": _balance_rows(request.user, me),
        },
    )


def _inbox_page(request: HttpRequest, delegation_form: DelegationForm) -> HttpResponse:
    steps = inbox_steps(user=request.user)
    kind = request.GET.get("kind")
    if kind in RequestKind.values:
        steps = steps.filter(request__kind=kind)
    now = timezone.now()
    rows = [
        {
            "step": step,
            "request": step.request,
            "amount": format_usd(step.request.amount_micros),
            "age_days": (now - (step.assigned_at or step.request.created_at)).days,
            "on_behalf": step.approver_id and step.approver_id != request.user.pk,
        }
        for step in steps
    ]
    return render(
        request,
        "approvals/inbox.html",
        {
            "rows": rows,
            "decided": decided_by(user=request.user),
            "kinds": RequestKind.choices,
            "kind": kind,
            "delegation_form": delegation_form,
            "delegations": delegations_given(user=request.user),
            "policy": company_settings(),
        },
    )


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    return _inbox_page(request, DelegationForm())


def _visible_request(request: HttpRequest, pk: int) -> ApprovalRequest:
    approval = get_object_or_404(
        ApprovalRequest.objects.select_related("requester", "employee__user", "team", "project"),
        pk=pk,
    )
    if not user_can_see_request(request.user, approval):
        raise Http404("No such request among those you can see.")
    return approval


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    approval = _visible_request(request, pk)
    step = approval.steps.filter(index=approval.current_step).select_related("request").first()
    can_decide = (
        bool(approval.state == RequestState.IN_REVIEW and step)
        and may_decide(step, request.user)[0]
    )
    subject = approval.employee
    if subject is None and approval.kind not in (RequestKind.OFFER, RequestKind.LEDGER_ENTRY):
        # a team top-up or project allocation: the requester's own budgets give the context
        subject = Employee.objects.filter(user=approval.requester).first()
    if subject is not None and not user_can_see_employee(request.user, subject):
        subject = None  # an approver sees the request, not the budgets of someone above them
    chart = ""
    if subject is not None:
        display = money_display_for(request.user, subject)
        months = employee_monthly_spend(employee=subject, fiscal_year=approval.fiscal_year)
        chart = column_chart(
            [(m.strftime("%b"), v) for m, v in months],
            format_value=lambda v: display.chart_value(v) if display.amount(v) else "",
            format_label=lambda v: display.chart_label(v) if display.amount(v) else "",
            title="Spend by month",
        )
    return render(
        request,
        "approvals/detail.html",
        {
            "approval": approval,
            "amount": approval.amount_display,
            "steps": approval.steps.select_related("approver", "decided_by", "on_behalf_of"),
            "can_decide": can_decide,
            "can_withdraw": approval.requester_id == request.user.pk
            and approval.state == RequestState.IN_REVIEW,
            "form": DecisionForm(),
            "balances": _balance_rows(request.user, subject),
            "chart": chart,
        },
    )


@login_required
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    approval = _visible_request(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("comment", []) + form.non_field_errors():
            messages.error(request, error)
        return redirect("approvals:detail", pk=pk)
    try:
        request_decide(
            request=approval,
            user=request.user,
            approve=form.cleaned_data["decision"] == "approve",
            comment=form.cleaned_data["comment"],
            step_index=form.cleaned_data["step"],
        )
    except AllotError as error:
        if error.code == "forbidden":
            raise Http404("No such request among those you can decide.") from error
        messages.error(request, error.message)
    else:
        messages.success(request, "Your decision is recorded.")
    return redirect("approvals:inbox")


@login_required
@require_POST
def delegate(request: HttpRequest) -> HttpResponse:
    """Make a delegation; a refusal shows on the form's field, on the approvals page."""
    form = DelegationForm(request.POST)
    if not form.is_valid():
        return _inbox_page(request, form)
    data = form.cleaned_data
    try:
        made = delegation_create(
            delegator=request.user,
            delegate_email=data["delegate"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            reason=data["reason"],
            acting_user=request.user,
        )
    except AllotError as error:
        form.add_error(error.field if error.field in form.fields else None, error.message)
        return _inbox_page(request, form)
    messages.success(
        request, f"From {made.starts_on} to {made.ends_on}, {made.delegate} decides for you."
    )
    no_offers = stand_in_refusal(delegator=made.delegator, delegate=made.delegate, offers=True)
    if no_offers:
        messages.warning(request, no_offers)
    return redirect("approvals:inbox")


@login_required
@require_POST
def delegation_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    """End a delegation early: its delegator, or HR. Anyone else is told it does not exist."""
    delegation = get_object_or_404(
        Delegation.objects.select_related("delegator", "delegate"), pk=pk
    )
    try:
        delegation_end(delegation=delegation, acting_user=request.user)
    except AllotError as error:
        if error.code == "forbidden":
            raise Http404("No such delegation among yours.") from error
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{delegation.delegate} no longer stands in for {delegation.delegator}."
        )
    return redirect("approvals:inbox")


@login_required
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    approval = _visible_request(request, pk)
    try:
        request_withdraw(request=approval, user=request.user)
    except AllotError as error:
        messages.error(request, error.message)
    return redirect("approvals:requests")
