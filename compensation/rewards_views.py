"""Total rewards statement pages: HR asks for every employee's statements of a year and follows
the batch's progress, downloads the zip, or opens one person's PDF; an employee opens their own.
Pay is private: every view checks the reader on the server, and files are served only here."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from common.errors import AllotError
from compensation.models import StatementRun, StatementRunState
from compensation.rewards import rewards_statement, statement_pdf
from compensation.selectors import user_is_hr
from compensation.statements import statement_run_request
from people.access import role_required
from people.models import Employee
from people.roles import HR
from people.selectors import company_today, fiscal_year_of

hr_required = role_required(HR, denied="Total rewards statements are for HR only.")


class StatementRunForm(forms.Form):
    fiscal_year = forms.IntegerField(min_value=2000, max_value=2200)


class OneStatementForm(forms.Form):
    email = forms.EmailField(help_text="The employee's work email.")
    fiscal_year = forms.IntegerField(min_value=2000, max_value=2200)


def _this_year() -> int:
    return fiscal_year_of(company_today())


@hr_required
@require_http_methods(["GET", "POST"])
def rewards_list(request: HttpRequest) -> HttpResponse:
    year = _this_year()
    batch = request.method == "POST" and request.POST.get("what") == "batch"
    one = request.method == "POST" and not batch
    form = StatementRunForm(request.POST if batch else None, initial={"fiscal_year": year})
    one_form = OneStatementForm(
        request.POST if one else None, initial={"fiscal_year": year}, prefix="one"
    )
    if batch and form.is_valid():
        try:
            run = statement_run_request(
                fiscal_year=form.cleaned_data["fiscal_year"], acting_user=request.user
            )
        except AllotError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"FY{run.fiscal_year} statements: {run.total} being made.")
            return redirect("compensation:rewards")
    if one and one_form.is_valid():
        employee = Employee.objects.filter(
            user__email__iexact=one_form.cleaned_data["email"]
        ).first()
        if employee is None:
            one_form.add_error("email", "No employee signs in with this email.")
        else:
            return redirect(
                "compensation:rewards-pdf", employee.pk, one_form.cleaned_data["fiscal_year"]
            )
    runs = list(StatementRun.objects.select_related("requested_by")[:30])
    return render(
        request,
        "compensation/rewards_list.html",
        {
            "form": form,
            "one_form": one_form,
            "runs": runs,
            "working": any(not run.is_finished for run in runs),
        },
    )


@hr_required
@require_GET
def rewards_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(StatementRun, pk=pk)
    return JsonResponse(
        {
            "id": run.pk,
            "state": run.state,
            "progress_percent": run.progress_percent,
            "stage": f"{run.done:,} of {run.total:,} statements",
            "finished": run.is_finished,
        }
    )


@hr_required
@require_GET
def rewards_zip(request: HttpRequest, pk: int) -> FileResponse:
    run = get_object_or_404(StatementRun, pk=pk)
    if run.state != StatementRunState.DONE or not run.archive:
        raise Http404("These statements are not finished.")
    response = FileResponse(
        run.archive.open("rb"),
        as_attachment=True,
        filename=f"total-rewards-FY{run.fiscal_year}.zip",
        content_type="application/zip",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def rewards_pdf(request: HttpRequest, employee_id: int, fiscal_year: int) -> HttpResponse:
    """One statement: HR's for anyone, an employee's own; nobody else's (a 404, so the page
    does not tell who works here)."""
    employee = Employee.objects.select_related("user", "level", "team").filter(pk=employee_id)
    employee = employee.first()
    if employee is None or not (user_is_hr(request.user) or employee.user_id == request.user.pk):
        raise Http404("No such statement among those you can see.")
    if not 2000 <= fiscal_year <= _this_year():
        raise Http404("There is no statement for that year.")
    statement = rewards_statement(employee=employee, fiscal_year=fiscal_year)
    response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{statement.filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def rewards_mine(request: HttpRequest) -> HttpResponse:
    employee = Employee.objects.filter(user=request.user).first()
    if employee is None:
        raise Http404("You have no employee record, so no statement.")
    return redirect("compensation:rewards-pdf", employee.pk, _this_year())
