"""A report build that fails midway (a real fault: the file store is unusable when the PDF is
saved) is left failed with its reason; building it again gives the same report as a clean run."""

from datetime import UTC, datetime

import pytest
import time_machine
from pypdf import PdfReader

from reporting.models import RunState
from reporting.services import report_run_build, report_run_request, report_run_retry
from tests.factories import finance_user

pytestmark = pytest.mark.django_db


# Both builds run at this instant, so "generated at" matches and the reports must be identical.
BUILT_AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def pdf_text(run) -> str:
    with run.pdf.open("rb") as handle:
        return "\n".join(page.extract_text() for page in PdfReader(handle).pages)


def test_a_failed_build_resumes_to_the_same_report_as_a_clean_run(company, settings, tmp_path):
    finance = finance_user()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=finance, enqueue=False)

    with pytest.raises(OSError):  # the task fails loudly (Celery records it) ...
        report_run_build(run=run)
    run.refresh_from_db()  # ... and the run says so
    failed_state, failed_error = run.state, run.error

    settings.MEDIA_ROOT = tmp_path / "media"  # the disk is back
    with time_machine.travel(BUILT_AT, tick=False):
        report_run_retry(run=run, enqueue=False)
        report_run_build(run=run)
        clean = report_run_request(fiscal_year=2026, quarter=1, acting_user=finance, enqueue=False)
        report_run_build(run=clean)
    run.refresh_from_db()
    clean.refresh_from_db()

    assert failed_state == RunState.FAILED
    assert "NotADirectoryError" in failed_error
    assert run.state == clean.state == RunState.DONE
    ready = finance.notifications.filter(kind="report").order_by("pk")
    assert [n.link for n in ready] == [f"/reports/{run.pk}/", f"/reports/{clean.pk}/"]
    assert ready[0].subject == "Allot: the FY2026 Q1 report is ready"
    assert run.snapshot == clean.snapshot
    assert pdf_text(run) == pdf_text(clean)


def test_only_a_failed_report_can_be_built_again(company):
    run = report_run_request(fiscal_year=2026, quarter=1, acting_user=None, enqueue=False)
    report_run_build(run=run)

    with pytest.raises(Exception, match="Only a failed report"):
        report_run_retry(run=run, enqueue=False)
