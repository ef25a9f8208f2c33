import csv
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from audit.selectors import AuditRow, audit_trail, audited_models
from common.csvsafe import spreadsheet_cell
from people.roles import FINANCE, has_role

PAGE = 100
MAX_PAGE = 50  # 5,000 rows back; narrow the filters for older changes


def can_audit(user) -> bool:
    return has_role(user, FINANCE)


FIRST_DAY, LAST_DAY = date.min + timedelta(days=1), date.max - timedelta(days=1)


class AuditFilter(forms.Form):
    what = forms.ChoiceField(required=False, label="Record")
    who = forms.CharField(required=False, max_length=100, label="Changed by")
    # The trail's window runs to the end of the last day, in the company's zone: the calendar's
    # first and last days have no day on one side of them.
    since = forms.DateField(
        required=False,
        label="From",
        widget=forms.DateInput({"type": "date"}),
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
    )
    until = forms.DateField(
        required=False,
        label="To",
        widget=forms.DateInput({"type": "date"}),
        validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
    )
    page = forms.IntegerField(
        required=False, min_value=1, max_value=MAX_PAGE, widget=forms.HiddenInput
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["what"].choices = [
            ("", "Everything"),
            ("ledger", "Ledger entries posted by people"),
            ("transitions", "State changes (requests, offers, runs)"),
        ] + [
            (m._meta.label_lower, str(m._meta.verbose_name).capitalize())
            for m in audited_models(user)
        ]

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


def _day_start(day) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


def _csv(rows: list[AuditRow]) -> HttpResponse:
    """The filtered trail (up to MAX_PAGE pages), one row a change, times in the company zone."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="audit-trail.csv"'
    writer = csv.writer(response)
    writer.writerow(["when", "who", "record_type", "record", "what_happened", "changes", "reason"])
    for row in rows:
        cells = [
            timezone.localtime(row.at).strftime("%Y-%m-%d %H:%M:%S"),
            row.who,
            row.what,
            row.record,
            row.action,
            "; ".join(row.changes),
            row.reason,
        ]
        writer.writerow([spreadsheet_cell(cell) for cell in cells])
    return response


@login_required
def trail(request: HttpRequest) -> HttpResponse:
    """Finance's page of who changed what (superusers too); everyone else gets a 403."""
    if not can_audit(request.user):
        raise PermissionDenied("The audit trail is for finance.")
    form = AuditFilter(request.GET or None, user=request.user)
    rows, page = [], 1
    if form.is_bound and not form.is_valid():
        pass  # the form shows its errors; no rows
    else:
        data = form.cleaned_data if form.is_bound else {}
        page = data.get("page") or 1
        until = data.get("until")
        export = request.GET.get("export") == "csv"
        rows = audit_trail(
            user=request.user,
            what=data.get("what") or "",
            who=data.get("who") or "",
            since=_day_start(data.get("since")),
            until=_day_start(until + timezone.timedelta(days=1)) if until else None,
            limit=PAGE * MAX_PAGE if export else PAGE + 1,
            offset=0 if export else (page - 1) * PAGE,
        )
        if export:
            return _csv(rows)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/trail.html",
        {
            "form": form,
            "rows": rows[:PAGE],
            "page": page,
            "has_next": len(rows) > PAGE,
            "query": query.urlencode(),
        },
    )
