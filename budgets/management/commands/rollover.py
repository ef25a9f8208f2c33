import csv
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from budgets.models import RolloverRun, RolloverState
from budgets.rollover import (
    CHUNK_SIZE,
    rollover_confirm,
    rollover_enqueue,
    rollover_execute,
    rollover_plans,
    rollover_preview,
    rollover_preview_rows,
    rollover_year_open_error,
    run_context,
)
from budgets.rollover.indexing import indexing_display
from common.errors import AllotError
from common.money import format_usd
from outbox.services import outbox_relay

PER_OWNER_LINES = 50


class Command(BaseCommand):
    help = (
        "Close a fiscal year into the next: carry over, forfeit, allocate from levels. "
        "--dry-run previews (nothing moves); without it the rollover is committed in chunks "
        "(the same service as the admin's confirm and the Celery task). Running it again after "
        "it is done changes nothing and says so."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fiscal-year", type=int, required=True, help="The fiscal year to close (YYYY)."
        )
        parser.add_argument("--dry-run", action="store_true", help="Preview only.")
        parser.add_argument(
            "--before-year-end",
            action="store_true",
            help="Commit a fiscal year that has not ended yet (refused without this).",
        )
        parser.add_argument(
            "--csv", metavar="FILE", help="Write the per-owner preview as CSV ('-' for stdout)."
        )
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
        parser.add_argument(
            "--in-worker",
            action="store_true",
            help="Commit in a Celery worker and follow its progress (default: in this process).",
        )
        parser.add_argument(
            "--as", dest="acting_email", metavar="EMAIL", help="Who confirms (a finance user)."
        )

    def handle(self, *args, fiscal_year: int, dry_run: bool, **options):
        if not 2000 <= fiscal_year <= 2199:
            raise CommandError("--fiscal-year must be a year such as 2026.")
        if not 1 <= options["chunk_size"] <= 10_000:
            raise CommandError("--chunk-size must be 1 to 10,000.")
        user = None
        if options["acting_email"]:
            user = get_user_model().objects.filter(email__iexact=options["acting_email"]).first()
            if user is None:
                raise CommandError(f"No user with email {options['acting_email']!r}.")
        existing = RolloverRun.objects.filter(fiscal_year=fiscal_year).first()
        if existing is not None and existing.state == RolloverState.DONE:
            self.stdout.write(
                f"FY{fiscal_year} was already rolled over on {existing.finished_at:%Y-%m-%d %H:%M} "
                f"UTC ({existing.owners_done:,} owners): nothing changed."
            )
            return
        try:
            run = rollover_preview(fiscal_year=fiscal_year, acting_user=user)
        except AllotError as error:
            raise CommandError(error.message) from error
        self._print_preview(run)
        if options["csv"]:
            self._write_csv(run, options["csv"])
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
            return
        still_open = rollover_year_open_error(fiscal_year)
        if still_open and not options["before_year_end"]:
            raise CommandError(f"{still_open} Use --before-year-end to commit it anyway.")
        try:
            if run.state != RolloverState.RUNNING:
                run = rollover_confirm(
                    run=run,
                    acting_user=user,
                    enqueue=options["in_worker"],
                    chunk_size=options["chunk_size"],
                )
            elif options["in_worker"]:  # resume a run whose worker stopped: harmless if not
                with transaction.atomic():
                    rollover_enqueue(run=run, chunk_size=options["chunk_size"])
        except AllotError as error:
            raise CommandError(error.message) from error
        if options["in_worker"]:
            outbox_relay()  # a terminal, not a request: send it now rather than at the next beat
            self._follow(run)
            return
        started = time.perf_counter()
        result = rollover_execute(
            run=run,
            chunk_size=options["chunk_size"],
            progress=lambda r: self.stdout.write(f"  {r.owners:,} owners done ({r.chunks} chunks)"),
        )
        self._print_done(result.run, time.perf_counter() - started)

    def _print_preview(self, run: RolloverRun) -> None:
        self.stdout.write(f"Rollover FY{run.fiscal_year} -> FY{run.next_fiscal_year} (preview)")
        self.stdout.write(
            f"{'group':<28}{'owners':>9}{'unused':>18}{'carried':>18}{'forfeited':>18}"
            f"{'new allocation':>18}"
        )
        rows = list(run.breakdown.items()) + [
            (
                "Total",
                [
                    run.owners_total,
                    run.unused_micros,
                    run.carried_micros,
                    run.forfeited_micros,
                    run.allocated_micros,
                ],
            )
        ]
        for group, (owners, unused, carried, forfeited, allocated) in rows:
            self.stdout.write(
                f"{group:<28}{owners:>9,}{format_usd(unused):>18}{format_usd(carried):>18}"
                f"{format_usd(forfeited):>18}{format_usd(allocated):>18}"
            )
        self._print_indexing(run)
        if run.reference_rate_before and run.reference_rate_after:
            self.stdout.write(
                f"Reference rate: ${run.reference_rate_before.normalize()} per token last year, "
                f"${run.reference_rate_after.normalize()} at the new year's prices."
            )

    def _print_indexing(self, run: RolloverRun) -> None:
        """The policy, both rates, the factor and each person's level dollars -> new
        allocation where the factor changes it (the first PER_OWNER_LINES; --csv has all)."""
        shown = indexing_display(run)
        self.stdout.write(f"Indexing: {shown['policy']}")
        self.stdout.write(f"  FY{run.fiscal_year} effective rate: {shown['closing_rate']}")
        self.stdout.write(f"  FY{run.next_fiscal_year} rate: {shown['new_rate']}")
        self.stdout.write(f"  Factor {shown['factor']}: {shown['note']}")
        if run.indexing_factor is None or run.indexing_factor == 1:
            return  # nobody's amount changes: no pass over every owner to say so
        changed = (
            plan
            for plan in rollover_plans(run_context(run))
            if plan.level_dollars_micros
            and plan.level_allocation_micros != plan.level_dollars_micros
        )
        for count, plan in enumerate(changed):
            if count == PER_OWNER_LINES:
                self.stdout.write("  ... and more: --csv FILE lists every owner.")
                break
            self.stdout.write(
                f"  {plan.label}: {format_usd(plan.level_dollars_micros)} -> "
                f"{format_usd(plan.level_allocation_micros)}"
                + (" (allocation already posted)" if plan.already_allocated else "")
            )

    def _write_csv(self, run: RolloverRun, path: str) -> None:
        handle = self.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        try:
            writer = csv.writer(handle)
            for row in rollover_preview_rows(run):
                writer.writerow(row)
        finally:
            if handle is not self.stdout:
                handle.close()
        if path != "-":
            self.stdout.write(f"Preview written to {path}.")

    def _follow(self, run: RolloverRun) -> None:
        self.stdout.write("Committing in a worker...")
        while True:
            run.refresh_from_db()
            self.stdout.write(f"  {run.owners_done:,} of ~{run.owners_total:,} owners done")
            if run.state == RolloverState.DONE:
                self._print_done(run, None)
                return
            if run.state == RolloverState.FAILED:
                raise CommandError(f"The rollover failed: {run.errors[-1]['error']}")
            time.sleep(1)

    def _print_done(self, run: RolloverRun, seconds: float | None) -> None:
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        self.stdout.write(
            f"Done{took}: {run.owners_done:,} owners, "
            f"{format_usd(run.done_carried_micros)} carried over, "
            f"{format_usd(run.done_forfeited_micros)} forfeited, "
            f"{format_usd(run.done_allocated_micros)} allocated."
        )
