from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from budgets.models import Budget, DailySpend, EntryKind, LedgerEntry, UsageEvent
from budgets.pricing import NewPrice, price_correct, price_correction_preview
from budgets.usage import usage_ingest
from common.errors import AllotError
from tests.factories import EmployeeFactory, hr_user, price

pytestmark = pytest.mark.django_db


def test_a_price_correction_reprices_what_it_priced_with_new_entries_only():
    # given events priced by an old and a new version of a model's price, and one with its own cost
    EmployeeFactory(user__email="a@example.com")
    now = timezone.now()
    old = price("m", input_usd="10", output_usd="10", since=datetime(2020, 1, 1, tzinfo=UTC))
    current = price("m", input_usd="4", output_usd="4", since=now - timedelta(days=3))

    def event(n, days_ago, **extra):
        return {
            "id": f"e{n}",
            "employee": "a@example.com",
            "model": "m",
            "input_tokens": 500_000,
            "output_tokens": 0,
            "occurred_at": (now - timedelta(days=days_ago)).isoformat(),
            **extra,
        }

    usage_ingest(events=[event(1, 1), event(2, 2), event(3, 10), event(4, 1, cost_usd="9")])
    budget = Budget.objects.get()
    spent_before = budget.spent_micros  # 2 x $2 + $5 + $9
    assert spent_before == 18 * 10**6
    events_before = list(UsageEvent.objects.order_by("pk").values_list("cost_micros", flat=True))

    # when the current price was wrong ($4 should have been $5) and is corrected
    new = NewPrice(5 * 10**6, 5 * 10**6, 0)
    preview = price_correction_preview(price=current, new=new)
    correction = price_correct(price=current, new=new, reason="list price", acting_user=hr_user())

    # then only its two events are re-priced, as one entry, and the events are untouched
    assert (preview.events, preview.delta_micros) == (2, 10**6)
    assert correction.events_repriced == 2 and correction.delta_micros == 10**6
    budget.refresh_from_db()
    assert budget.spent_micros == spent_before + 10**6
    entry = LedgerEntry.objects.get(kind=EntryKind.USAGE_CORRECTION)
    assert entry.amount_micros == 10**6 and entry.budget == budget
    spent_entries = LedgerEntry.objects.filter(
        budget=budget, kind__in=[EntryKind.USAGE, EntryKind.USAGE_CORRECTION]
    ).aggregate(s=Sum("amount_micros"))["s"]
    assert spent_entries == budget.spent_micros
    assert DailySpend.objects.aggregate(s=Sum("spent_micros"))["s"] == budget.spent_micros
    assert list(UsageEvent.objects.order_by("pk").values_list("cost_micros", flat=True)) == (
        events_before
    )
    current.refresh_from_db()
    assert current.input_per_million_micros == 5 * 10**6
    assert current.history.first().history_change_reason == "list price"
    assert old.usage_events.count() == 1


def test_a_correction_needs_a_reason_and_sane_prices():
    current = price("m")
    with pytest.raises(AllotError, match="why"):
        price_correct(price=current, new=NewPrice(1, 1, 1), reason=" ", acting_user=None)
    with pytest.raises(AllotError):
        price_correction_preview(price=current, new=NewPrice(-1, 1, 1))


def test_finance_previews_then_applies_a_correction_in_the_admin(client):
    from django.urls import reverse

    from tests.factories import finance_user

    EmployeeFactory(user__email="a@example.com")
    current = price("m", input_usd="4", output_usd="4")
    usage_ingest(
        events=[
            {
                "id": "e1",
                "employee": "a@example.com",
                "model": "m",
                "input_tokens": 1_000_000,
                "output_tokens": 0,
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    )
    client.force_login(finance_user())
    url = reverse("admin:budgets_tokenprice_correct", args=[current.pk])
    form = {
        "input_per_million": "5",
        "output_per_million": "4",
        "cached_input_per_million": "0",
        "reason": "vendor invoice",
    }

    page = client.get(reverse("admin:budgets_tokenprice_change", args=[current.pk]))
    preview = client.post(url, {**form, "preview": "1"})
    assert b"Correct this price" in page.content
    assert preview.status_code == 200 and b"$1.00" in preview.content
    assert not LedgerEntry.objects.filter(kind=EntryKind.USAGE_CORRECTION).exists()

    applied = client.post(url, {**form, "apply": "1"})
    assert applied.status_code == 302
    assert LedgerEntry.objects.get(kind=EntryKind.USAGE_CORRECTION).amount_micros == 10**6


def test_hr_cannot_correct_prices(client):
    from django.urls import reverse

    current = price("m")
    client.force_login(hr_user())
    url = reverse("admin:budgets_tokenprice_correct", args=[current.pk])
    assert client.get(url).status_code == 403


def test_the_employees_own_charts_follow_price_corrections(client):
    # given an employee's events priced by a model's price, one with its own cost, on a budget
    # they share with no one
    from budgets.selectors import employee_monthly_spend, employee_spend_by, repriced_spend
    from people.selectors import current_fiscal_year

    employee = EmployeeFactory(user__email="a@example.com")
    now = timezone.now()
    current = price("m", input_usd="4", output_usd="4", since=now - timedelta(days=30))
    events = [
        {
            "id": f"e{n}",
            "employee": "a@example.com",
            "model": "m",
            "category": category,
            "input_tokens": 500_000,
            "output_tokens": 0,
            "occurred_at": (now - timedelta(hours=n)).isoformat(),
        }
        for n, category in ((1, "code_review"), (2, "testing"), (3, "testing"))
    ]
    events.append({**events[0], "id": "own", "model": "x", "cost_usd": "9"})
    assert usage_ingest(events=events).accepted == 4

    # when the price is corrected twice ($4 -> $5 -> $4.50 a million tokens)
    for dollars in (5, 4.5):
        new = NewPrice(int(dollars * 10**6), int(dollars * 10**6), 0)
        price_correct(price=current, new=new, reason="list price", acting_user=hr_user())

    # then month, category and model each add up to what the balance says was spent
    year = current_fiscal_year()
    spent = Budget.objects.get(employee=employee).spent_micros
    assert spent == 3 * 2_250_000 + 9 * 10**6
    assert sum(v for _, v in employee_monthly_spend(employee=employee, fiscal_year=year)) == spent
    for field in ("category", "model_name"):
        by = dict(employee_spend_by(employee=employee, fiscal_year=year, field=field))
        assert sum(by.values()) == spent, field
    assert dict(employee_spend_by(employee=employee, fiscal_year=year, field="model_name")) == {
        "x": 9 * 10**6,
        "m": 6_750_000,
    }
    # three events of model m, repriced by $0.25 each, in one or two categories
    repriced = repriced_spend(employee=employee, fiscal_year=year)
    assert sum(r.delta_micros for r in repriced) == 3 * 250_000
    by_category: dict[str, int] = {}
    for row in repriced:  # (rows are per month too: the events may straddle a month's start)
        by_category[row.category] = by_category.get(row.category, 0) + row.delta_micros
    assert by_category == {"code_review": 250_000, "testing": 500_000}
    # and the dashboard lists each repriced event at its corrected cost, saying what was charged
    client.force_login(employee.user)
    page = client.get("/").content.decode()
    assert page.count("repriced; charged $2.00") == 3
    assert "$2.25" in page
