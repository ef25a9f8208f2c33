"""Finance's report pages: ask for a quarter's or a month's report, follow its progress, download
the PDF, the CSV, the XLSX workbook and the zip of tidy CSVs. Every view checks the reader is
Finance (or a superuser); files are served only here."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from budgets.closing import month_parse
from common.errors import AllotError
from reporting.access import finance_required
from reporting.forms import (
    MonthReportForm,
    ReportRequestForm,
    last_complete_month,
    last_complete_quarter,
)
from reporting.journal import journal_csv
from reporting.models import ReportRun, RunState
from reporting.rendering import report_context, report_csv
from reporting.services import month_report_run_request, report_run_request, report_run_retry
from reporting.workbook import report_csv_zip, report_xlsx


@finance_required
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    year, quarter = last_complete_quarter(today)
    monthly = request.method == "POST" and request.POST.get("period") == "month"
    form = ReportRequestForm(
        request.POST if request.method == "POST" and not monthly else None,
        initial={"fiscal_year": year, "quarter": quarter},
    )
    month_form = MonthReportForm(
        request.POST if monthly else None,
        initial={"month": f"{last_complete_month(today):%Y-%m}"},
        prefix="m",
    )
    asked = month_form if monthly else form
    if request.method == "POST" and asked.is_valid():
        data = asked.cleaned_data
        try:
            if monthly:
                run = month_report_run_request(
                    month=data["month"],
                    include_appendix=data["include_appendix"],
                    acting_user=request.user,
                )
            else:
                run = report_run_request(
                    fiscal_year=data["fiscal_year"],
                    quarter=data["quarter"],
                    include_appendix=data["include_appendix"],
                    acting_user=request.user,
                )
        except AllotError as exc:
            asked.add_error(exc.field if exc.field in asked.fields else None, exc.message)
        else:
            messages.success(request, f"The {run.period_label} report is being built.")
            return redirect("reporting:list")
    runs = list(ReportRun.objects.select_related("requested_by").defer("snapshot")[:50])
    return render(
        request,
        "reporting/list.html",
        {
            "form": form,
            "month_form": month_form,
            "runs": runs,
            "working": any(not run.is_finished for run in runs),
        },
    )


@finance_required
@require_GET
def report_status(request: HttpRequest, pk: int) -> JsonResponse:
    run = get_object_or_404(ReportRun.objects.defer("snapshot"), pk=pk)
    return JsonResponse(
        {
            "id": run.pk,
            "state": run.state,
            "progress_percent": run.progress_percent,
            "stage": run.stage,
            "finished": run.is_finished,
        }
    )


def _done(pk: int) -> ReportRun:
    run = get_object_or_404(ReportRun, pk=pk)
    if run.state != RunState.DONE or run.snapshot is None:
        raise Http404("This report is not finished.")
    return run


@finance_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _done(pk)
    return render(request, "reporting/detail.html", {"run": run, **report_context(run.snapshot)})


@finance_required
@require_POST
def report_retry(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ReportRun.objects.defer("snapshot"), pk=pk)
    try:
        report_run_retry(run=run)
    except AllotError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The {run.period_label} report is being built again.")
    return redirect("reporting:list")


@finance_required
@require_GET
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    run = _done(pk)
    if not run.pdf:
        raise Http404("This report has no file.")
    return FileResponse(
        run.pdf.open("rb"),
        as_attachment=True,
        filename=f"{run.file_stem}.pdf",
        content_type="application/pdf",
    )


@finance_required
@require_GET
def report_csv_download(request: HttpRequest, pk: int) -> HttpResponse:
    run = _done(pk)
    table = request.GET.get("table") or None
    if table and table not in {t["key"] for t in run.snapshot["tables"]}:
        raise Http404("No such table in this report.")
    response = HttpResponse(
        report_csv(run.snapshot, table_key=table), content_type="text/csv; charset=utf-8"
    )
    name = f"{run.file_stem}{'-' + table if table else ''}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@finance_required
@require_GET
def report_xlsx_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's tables as a workbook, one sheet a table."""
    run = _done(pk)
    response = HttpResponse(report_xlsx(run.snapshot), content_type=XLSX_TYPE)
    name = f"{run.file_stem}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@finance_required
@require_GET
def report_csv_zip_download(request: HttpRequest, pk: int) -> HttpResponse:
    """The report's tables as tidy CSVs in a zip, one file a table."""
    run = _done(pk)
    response = HttpResponse(report_csv_zip(run.snapshot), content_type="application/zip")
    name = f"{run.file_stem}-tables.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@finance_required
@require_GET
def journal_download(request: HttpRequest, month: str) -> HttpResponse:
    """A closed month's journal CSV; a month not closed (or not a month) is a 400 naming it."""
    try:
        text = journal_csv(month_parse(month))
    except AllotError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="journal-{month}.csv"'
    return response
