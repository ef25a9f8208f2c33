"""What the rollover tells finance: previewed (confirm it), and done. Both link to the run's
page in the admin, where it is confirmed and its figures read."""

from django.contrib.auth import get_user_model
from django.urls import reverse

from budgets.models import RolloverRun
from common.money import format_usd
from notifications.kinds import Kind
from notifications.services import notifications_done, notify
from people.roles import FINANCE


def _finance():
    return get_user_model().objects.filter(groups__name=FINANCE, is_active=True).distinct()


def _run_link(run: RolloverRun) -> str:
    return reverse("admin:budgets_rolloverrun_change", args=[run.pk])


def rollover_previewed_tell(run: RolloverRun) -> None:
    notify(
        _finance(),
        f"The FY{run.fiscal_year} rollover is previewed: {run.owners_total:,} owners, "
        f"{format_usd(run.carried_micros)} to carry over, {format_usd(run.forfeited_micros)} "
        f"forfeited, {format_usd(run.allocated_micros)} of new allocations. "
        "Confirm it in the admin (Rollover runs).",
        kind=Kind.ROLLOVER,
        subject=f"Allot: the FY{run.fiscal_year} rollover waits for finance to confirm",
        link=_run_link(run),
        target=f"budgets.rollover:{run.pk}",
    )


def rollover_done_tell(run: RolloverRun) -> None:
    """The run finished: the preview's request to confirm is done, and finance hears the
    figures."""
    notifications_done(target=f"budgets.rollover:{run.pk}", note="rolled over")
    notify(
        _finance(),
        f"The FY{run.fiscal_year} rollover is done: {run.owners_done:,} owners, "
        f"{format_usd(run.done_carried_micros)} carried over, "
        f"{format_usd(run.done_forfeited_micros)} forfeited, "
        f"{format_usd(run.done_allocated_micros)} of new allocations.",
        kind=Kind.ROLLOVER,
        subject=f"Allot: the FY{run.fiscal_year} rollover is done",
        link=_run_link(run),
    )
