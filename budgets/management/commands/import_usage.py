import json
import time

from django.core.management.base import BaseCommand, CommandError

from budgets.usage.ingest import usage_ingest
from budgets.usage.parse import DEFAULT_SOURCE, MAX_EVENTS_PER_BATCH


class Command(BaseCommand):
    help = (
        "Back-fill usage from a gateway export: one JSON event per line, in the API's format, "
        "through the same service as POST /api/v1/usage/. Safe to run again: replays are "
        "duplicates."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A .jsonl file, one event object per line.")
        parser.add_argument("--source", default=DEFAULT_SOURCE, help="Which gateway sent them.")
        parser.add_argument("--batch-size", type=int, default=1_000)

    def handle(self, *args, file: str, source: str, batch_size: int, **options):
        if not 1 <= batch_size <= MAX_EVENTS_PER_BATCH:
            raise CommandError(f"--batch-size must be 1 to {MAX_EVENTS_PER_BATCH}.")
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        started = time.perf_counter()
        try:
            handle = open(file, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        with handle:
            batch: list = []
            line_numbers: list[int] = []
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    batch.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    self.stderr.write(f"line {number}: not JSON ({exc.msg}); skipped")
                    totals["rejected"] += 1
                    continue
                line_numbers.append(number)
                if len(batch) == batch_size:
                    self._send(batch, line_numbers, source, totals)
                    batch, line_numbers = [], []
            if batch:
                self._send(batch, line_numbers, source, totals)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{totals['accepted']:,} accepted, {totals['duplicates']:,} duplicates, "
            f"{totals['rejected']:,} rejected in {seconds:.1f}s."
        )

    def _send(self, batch, line_numbers, source, totals) -> None:
        # A back-fill of past usage: thresholds it passes are recorded, not emailed one by one.
        result = usage_ingest(events=batch, source=source, quiet_alerts=True)
        totals["accepted"] += result.accepted
        totals["duplicates"] += result.duplicates
        totals["rejected"] += len(result.rejected)
        for rejected in result.rejected:
            line = line_numbers[rejected["index"]]
            self.stderr.write(f"line {line}: id {rejected['id']!r} rejected: {rejected['errors']}")
        self.stdout.write(f"... {totals['accepted'] + totals['duplicates']:,} events read")
