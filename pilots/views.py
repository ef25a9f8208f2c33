"""The pilots' pages: the list, and one pilot against its control group (the table and a
chart). Who sees what: `pilots.selectors.pilots_visible_to`, checked on every request."""

from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from common.charts import column_chart
from people.selectors import company_today
from pilots.comparison import pilot_compare
from pilots.selectors import pilots_visible_to


def _visible(request: HttpRequest):
    pilots = pilots_visible_to(request.user)
    if pilots is None:
        raise PermissionDenied("Pilots are for HR, finance and the managers of their members.")
    return pilots


@login_required
@require_GET
def pilot_list(request: HttpRequest) -> HttpResponse:
    pilots = _visible(request).annotate(member_count=Count("memberships", distinct=True))
    return render(request, "pilots/list.html", {"pilots": pilots.order_by("-start", "name")})


@login_required
@require_GET
def pilot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    cohort = get_object_or_404(_visible(request), pk=pk)
    comparison = pilot_compare(cohort=cohort, today=company_today())
    points = [
        (f"{group.label} {when}", figures.units_per_person)
        for group in comparison.groups
        for when, figures in (("before", group.before), ("during", group.during))
        if figures.units_per_person is not None
    ]
    chart = column_chart(
        points,
        format_value=lambda v: f"{Decimal(v):,.2f}",
        width=560,
        height=200,
        title=f"{comparison.metric_label} per person",
    )
    return render(
        request,
        "pilots/detail.html",
        {"cohort": cohort, "comparison": comparison, "chart": chart},
    )
