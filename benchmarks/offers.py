"""What each step of an offer costs, with the letter's PDF against a baseline of rendering its
HTML only, and the admin's offers list at 10 and at 100 rows (it should read the same number of
queries). Everything runs in one transaction that is rolled back: the database is left as it was.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<your db> .venv/bin/python benchmarks/offers.py

The database must be migrated (`manage.py migrate`). --offers sets how many offers go through.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


class Rollback(Exception):
    pass


def timed(samples: dict, name: str, call):
    started = time.perf_counter()
    result = call()
    samples.setdefault(name, []).append(time.perf_counter() - started)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=40)
    args = parser.parse_args()

    import logging

    import django

    django.setup()
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    settings.ALLOWED_HOSTS = ["*"]

    from approvals.services import request_decide
    from compensation import letters
    from compensation.models import Candidate, Offer
    from compensation.services import (
        letter_generate,
        offer_accept,
        offer_save,
        offer_send,
        offer_submit,
    )
    from people.models import Department, Employee, Level, Team
    from people.roles import HR
    from people.selectors import company_today

    def UserFactory(username: str, **extra):  # noqa: N802 - reads like the tests' factory
        return get_user_model().objects.create_user(username, username, **extra)

    samples: dict[str, list[float]] = {}
    queries: dict[int, tuple[int, float]] = {}
    try:
        with transaction.atomic():
            department = Department.objects.create(name="Bench department")
            team = Team.objects.create(name="Bench team", department=department)
            senior = Level.objects.get(name="senior")
            director = Employee.objects.create(
                user=UserFactory(username="bench-director@example.com"),
                level=senior,
                team=team,
                hire_date=company_today() - timedelta(days=900),
            )
            manager = Employee.objects.create(
                user=UserFactory(username="bench-hm@example.com"),
                level=senior,
                team=team,
                manager=director,
                hire_date=company_today() - timedelta(days=400),
            )
            hr = UserFactory(username="bench-hr@example.com", is_staff=True)
            hr.groups.add(*Group.objects.filter(name=HR))
            client = Client()
            client.force_login(hr)
            for n in range(args.offers):
                candidate = Candidate.objects.create(
                    first_name="Bench", last_name=f"Candidate {n}", email=f"bench-{n}@example.com"
                )
                offer = timed(
                    samples,
                    "offer_save (create)",
                    lambda candidate=candidate: offer_save(
                        offer=Offer(
                            candidate=candidate,
                            position_title="Senior Engineer",
                            level=senior,
                            team=team,
                            hiring_manager=manager,
                            start_date=company_today() + timedelta(days=30),
                            base_salary_micros=190_000 * 10**6,
                            stock_annual_value_micros=40_000 * 10**6,
                            trade_direction="stock_to_tokens",
                            trade_amount_micros=10_000 * 10**6,
                        ),
                        acting_user=hr,
                    ),
                )
                request = timed(
                    samples,
                    "offer_submit",
                    lambda offer=offer: offer_submit(offer=offer, acting_user=hr),
                )
                timed(
                    samples,
                    "approval by the hiring manager",
                    lambda request=request: request_decide(
                        request=request, user=manager.user, approve=True
                    ),
                )
                offer.refresh_from_db()
                timed(
                    samples,
                    "baseline: letter HTML only",
                    lambda offer=offer: letters.letter_html(offer),
                )
                timed(
                    samples,
                    "letter HTML + PDF (WeasyPrint)",
                    lambda offer=offer: letters.letter_pdf(letters.letter_html(offer)),
                )
                timed(
                    samples,
                    "offer_send (stores the letter)",
                    lambda offer=offer: offer_send(offer=offer, acting_user=hr),
                )
                timed(
                    samples,
                    "letter_generate again (reused)",
                    lambda offer=offer: letter_generate(offer=offer, acting_user=hr),
                )
                if n % 2 == 0:
                    timed(
                        samples,
                        "offer_accept (user, employee, budget, entry)",
                        lambda offer=offer: offer_accept(offer=offer, acting_user=hr),
                    )
            url = reverse("admin:compensation_offer_changelist")
            for per_page in (10, 100):
                from compensation.admin import OfferAdmin

                OfferAdmin.list_per_page = per_page
                client.get(url)  # warm
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    assert client.get(url).status_code == 200
                    elapsed = time.perf_counter() - started
                queries[per_page] = (len(captured), elapsed)
            raise Rollback
    except Rollback:
        pass

    print(f"\n{args.offers} offers on {connection.vendor}\n")
    print("| step | runs | median ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, times in samples.items():
        print(
            f"| {name} | {len(times)} | {statistics.median(times) * 1000:.1f} | "
            f"{max(times) * 1000:.1f} |"
        )
    html = statistics.median(samples["baseline: letter HTML only"])
    pdf = statistics.median(samples["letter HTML + PDF (WeasyPrint)"])
    print(f"\nThe PDF costs {pdf / html:.0f}x rendering the HTML alone.\n")
    print("| admin offers list | queries | ms |")
    print("|---|---:|---:|")
    for rows, (count, elapsed) in queries.items():
        print(f"| {rows} rows | {count} | {elapsed * 1000:.0f} |")


if __name__ == "__main__":
    main()
