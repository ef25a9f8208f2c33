"""Admin for the annual rollover: carryover policies, and runs with their preview page, CSV,
finance's confirmation and a progress display. Every write calls budgets.rollover's services."""

import csv
from decimal import Decimal
from itertools import islice

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from budgets.calculations import tokens_at_rate
from budgets.carryover import HUNDRED
from budgets.models import CarryoverPolicy, RolloverItem, RolloverRun, RolloverState
from budgets.rollover import (
    rollover_confirm,
    rollover_plans,
    rollover_preview,
    rollover_preview_rows,
    rollover_year_open_error,
    run_context,
    run_hold_forfeited_micros,
    user_may_confirm_rollover,
)
from budgets.rollover.indexing import indexing_display
from budgets.rollover.plan import GroupTotals
from common.admin import HistoryAdmin
from common.charts import bar_list
from common.errors import AllotError
from common.money import format_usd
from people.selectors import current_fiscal_year

PAGE_SIZE = 100


@admin.register(CarryoverPolicy)
class CarryoverPolicyAdmin(HistoryAdmin):
    list_display = ["__str__", "share", "cap", "cap_percent_of_allocation", "expiry_months"]
    list_filter = ["applies_to"]
    list_select_related = ["level", "team"]
    autocomplete_fields = ["team"]
    search_fields = ["team__name", "level__name"]

    @admin.display(description="Share", ordering="share_percent")
    def share(self, policy: CarryoverPolicy) -> str:
        return (
            "inherit" if policy.share_percent is None else f"{policy.share_percent.normalize()} %"
        )

    @admin.display(description="Cap", ordering="cap_micros")
    def cap(self, policy: CarryoverPolicy) -> str:
        return "inherit" if policy.cap_micros is None else format_usd(policy.cap_micros)


class _DoneItem:
    """A committed RolloverItem shown in the same table as a previewed plan."""

    already_allocated = False

    def __init__(self, item: RolloverItem):
        owner = item.employee or item.team or item.project
        self.label = item.employee.email if item.employee_id else str(owner)
        self.group = (
            f"Level {item.employee.level}"
            if item.employee_id
            else "Team pools"
            if item.team_id
            else "Projects"
        )
        self.outcome = item.outcome
        self.unused_micros = item.unused_micros
        self.carried_micros = item.carried_micros
        self.forfeited_micros = item.forfeited_micros
        self.hold_forfeited_micros = item.hold_forfeited_micros
        self.allocation_micros = item.allocated_micros
        self.level_dollars_micros = item.level_dollars_micros
        self.new_year_micros = item.carried_micros + item.allocated_micros


class PreviewForm(forms.Form):
    fiscal_year = forms.IntegerField(label="Fiscal year to close", min_value=2000, max_value=2199)


def _later(micros: int) -> str:
    """Forfeited after the close, from holds it freed; blank when nothing was."""
    return format_usd(micros) if micros else ""


def _progress(run: RolloverRun) -> str:
    return render_to_string(
        "admin/budgets/rolloverrun/progress.html",
        {"run": run, "percent": run.progress_percent},
    )


def _page_of_plans(run: RolloverRun, page: int) -> list:
    """What was done, owner by owner, once the run has started; else what would be done."""
    start = (page - 1) * PAGE_SIZE
    if run.owners_done:
        items = (
            RolloverItem.objects.filter(run=run)
            .select_related("employee__user", "employee__level", "team", "project")
            .order_by("pk")[start : start + PAGE_SIZE]
        )
        return [_DoneItem(item) for item in items]
    if run.state == RolloverState.PREVIEWED and run.previewed_at:
        return list(islice(rollover_plans(run_context(run)), start, start + PAGE_SIZE))
    return []


def _plan_row(plan, before: Decimal | None, after: Decimal | None) -> dict:
    return {
        "plan": plan,
        "unused": format_usd(plan.unused_micros),
        "carried": format_usd(plan.carried_micros),
        "forfeited": format_usd(plan.forfeited_micros),
        "forfeited_later": _later(getattr(plan, "hold_forfeited_micros", 0)),
        "level_dollars": format_usd(plan.level_dollars_micros) if plan.level_dollars_micros else "",
        "allocation": format_usd(plan.allocation_micros),
        "total": format_usd(plan.new_year_micros),
        "tokens_before": f"{tokens_at_rate(plan.new_year_micros, before):,}" if before else "",
        "tokens_after": f"{tokens_at_rate(plan.new_year_micros, after):,}" if after else "",
    }


@admin.register(RolloverRun)
class RolloverRunAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "state",
        "progress",
        "owners",
        "carried",
        "forfeited",
        "allocated",
        "confirmed_by",
        "finished_at",
        "open_preview",
    ]
    list_filter = ["state"]
    list_select_related = ["confirmed_by", "previewed_by"]
    ordering = ["-fiscal_year"]

    def has_add_permission(self, request) -> bool:
        return False  # runs are made by previewing a year

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # confirmation is its own page

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:budgets_rolloverrun_preview", args=[object_id]))

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("new/", view(self.new_view), name="budgets_rolloverrun_new"),
            path("<int:pk>/preview/", view(self.preview_view), name="budgets_rolloverrun_preview"),
            path("<int:pk>/preview.csv", view(self.csv_view), name="budgets_rolloverrun_csv"),
            path("<int:pk>/confirm/", view(self.confirm_view), name="budgets_rolloverrun_confirm"),
            path("<int:pk>/refresh/", view(self.refresh_view), name="budgets_rolloverrun_refresh"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"may_preview": self._may_preview(request), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def _may_preview(self, request) -> bool:
        return request.user.has_perm("budgets.add_rolloverrun")

    @admin.display(description="Progress")
    def progress(self, run: RolloverRun) -> str:
        return _progress(run)

    @admin.display(description="Owners")
    def owners(self, run: RolloverRun) -> str:
        return f"{run.owners_done:,} / {run.owners_total:,}"

    @admin.display(description="Carried over")
    def carried(self, run: RolloverRun) -> str:
        return format_usd(run.done_carried_micros if run.owners_done else run.carried_micros)

    @admin.display(description="Forfeited")
    def forfeited(self, run: RolloverRun) -> str:
        return format_usd(run.done_forfeited_micros if run.owners_done else run.forfeited_micros)

    @admin.display(description="New allocations")
    def allocated(self, run: RolloverRun) -> str:
        return format_usd(run.done_allocated_micros if run.owners_done else run.allocated_micros)

    @admin.display(description="")
    def open_preview(self, run: RolloverRun) -> str:
        return format_html(
            '<a href="{}">Preview and progress</a>',
            reverse("admin:budgets_rolloverrun_preview", args=[run.pk]),
        )

    # -- pages --

    def new_view(self, request):
        if not self._may_preview(request):
            raise PermissionDenied
        form = PreviewForm(request.POST or None, initial={"fiscal_year": current_fiscal_year() - 1})
        if request.method == "POST" and form.is_valid():
            try:
                run = rollover_preview(
                    fiscal_year=form.cleaned_data["fiscal_year"], acting_user=request.user
                )
            except AllotError as error:
                form.add_error("fiscal_year", error.message)
            else:
                return HttpResponseRedirect(
                    reverse("admin:budgets_rolloverrun_preview", args=[run.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Preview a year-end rollover",
            "form": form,
        }
        return TemplateResponse(request, "admin/budgets/rolloverrun/new.html", context)

    def preview_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(RolloverRun.objects.select_related("confirmed_by"), pk=pk)
        try:
            page = max(1, int(request.GET.get("page", "1")))
        except ValueError:
            page = 1
        plans = _page_of_plans(run, page)
        before = run.reference_rate_before
        after = run.reference_rate_after or before
        rows = [_plan_row(plan, before, after) for plan in plans]
        groups = [
            {
                "name": name,
                "owners": f"{owners:,}",
                "unused": format_usd(unused),
                "carried": format_usd(carried),
                "forfeited": format_usd(forfeited),
                "allocated": format_usd(allocated),
            }
            for name, (owners, unused, carried, forfeited, allocated) in run.breakdown.items()
        ]
        groups_totals = [(name, GroupTotals(*values)) for name, values in run.breakdown.items()]
        hold_forfeited = run_hold_forfeited_micros(run.pk) if run.owners_done else 0
        price_change = None
        if before and after and after != before:
            price_change = ((before / after - 1) * HUNDRED).quantize(1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(run),
            "run": run,
            "progress": _progress(run),
            "groups": groups,
            "rows": rows,
            "page": page,
            "next_page": page + 1 if len(plans) == PAGE_SIZE else None,
            "previous_page": page - 1 if page > 1 else None,
            "totals": {
                "unused": format_usd(run.unused_micros),
                "carried": format_usd(run.carried_micros),
                "forfeited": format_usd(run.forfeited_micros),
                "allocated": format_usd(run.allocated_micros),
                "done_unused": format_usd(run.done_unused_micros),
                "done_carried": format_usd(run.done_carried_micros),
                "done_forfeited": format_usd(run.done_forfeited_micros),
                "done_allocated": format_usd(run.done_allocated_micros),
                "forfeited_later": _later(hold_forfeited),
            },
            "carried_chart": bar_list(
                [(name, group.carried_micros) for name, group in groups_totals],
                format_value=format_usd,
                title="Carried over by group",
                total=run.carried_micros,
            ),
            "forfeited_chart": bar_list(
                [(name, group.forfeited_micros) for name, group in groups_totals],
                format_value=format_usd,
                title="Forfeited by group",
                total=run.forfeited_micros,
            ),
            "rate_before": before.normalize() if before else None,
            "rate_after": after.normalize() if after else None,
            "price_change": price_change,
            "indexing": indexing_display(run),
            "may_confirm": user_may_confirm_rollover(request.user)
            and (
                run.state
                in (RolloverState.PREVIEWED, RolloverState.FAILED, RolloverState.INTERRUPTED)
                or run.is_stalled(timezone.now())
            ),
            # Shown, but not clickable, while the year runs: the commit would refuse it.
            "year_open": run.state == RolloverState.PREVIEWED
            and rollover_year_open_error(run.fiscal_year),
            "stalled": run.is_stalled(timezone.now()),
            "may_refresh": self._may_preview(request)
            and run.state == RolloverState.PREVIEWED
            and not run.owners_done,
            "auto_refresh": run.state == RolloverState.RUNNING,
        }
        return TemplateResponse(request, "admin/budgets/rolloverrun/preview.html", context)

    def csv_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(RolloverRun, pk=pk)

        class Echo:
            def write(self, value):
                return value

        writer = csv.writer(Echo())
        response = StreamingHttpResponse(
            (writer.writerow(row) for row in rollover_preview_rows(run)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="rollover-preview-fy{run.fiscal_year}.csv"'
        )
        return response

    def confirm_view(self, request, pk: int):
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:budgets_rolloverrun_preview", args=[pk]))
        if not user_may_confirm_rollover(request.user):
            raise PermissionDenied
        run = get_object_or_404(RolloverRun, pk=pk)
        try:
            still_open = rollover_year_open_error(run.fiscal_year)
            if still_open:
                raise AllotError(still_open, code="year_open")
            rollover_confirm(run=run, acting_user=request.user)
        except AllotError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(
                request,
                f"The FY{run.fiscal_year} rollover is running in the background; "
                "this page shows its progress.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:budgets_rolloverrun_preview", args=[pk]))

    def refresh_view(self, request, pk: int):
        if request.method != "POST" or not self._may_preview(request):
            raise PermissionDenied
        run = get_object_or_404(RolloverRun, pk=pk)
        try:
            rollover_preview(fiscal_year=run.fiscal_year, acting_user=request.user)
        except AllotError as error:
            self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:budgets_rolloverrun_preview", args=[pk]))
