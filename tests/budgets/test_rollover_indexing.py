"""Price-indexed budgets at the rollover: each policy under a price fall and a price rise, the
floor and the cap, the fallback without usage, the preview equal to the commit, and a resumed run
that keeps the factor its preview fixed."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from budgets.models import Budget, EntryKind, LedgerEntry, RolloverItem, TokenPrice
from budgets.rollover import (
    rollover_confirm,
    rollover_execute,
    rollover_preview,
    rollover_preview_rows,
)
from budgets.rollover.indexing import (
    IndexingPolicy,
    YearRates,
    indexed_micros,
    indexing_decide,
    year_effective_rates,
)
from budgets.services import employee_allocate_from_level
from budgets.usage import usage_post
from people.models import BudgetIndexing, CompanySettings
from tests.factories import EmployeeFactory, carry_half, finance_user, level

pytestmark = pytest.mark.django_db
DOLLAR = 1_000_000
MID = 100_000 * DOLLAR
SENIOR = 150_000 * DOLLAR
MODEL = "index-model"
NEW_YEAR = datetime(2027, 1, 1, tzinfo=UTC)


def price(*, input_usd: int, output_usd: int, on: datetime) -> TokenPrice:
    return TokenPrice.objects.create(
        model_name=MODEL,
        input_per_million_micros=input_usd * DOLLAR,
        output_per_million_micros=output_usd * DOLLAR,
        effective_from=on,
    )


def policy(kind: str, *, weight=50, floor=None, cap=None) -> CompanySettings:
    row = CompanySettings.objects.get(pk=1)
    row.budget_indexing = kind
    row.indexing_blend_weight = Decimal(weight)
    row.indexing_floor_pct = None if floor is None else Decimal(floor)
    row.indexing_cap_pct = None if cap is None else Decimal(cap)
    row.full_clean()
    row.save()
    return row


@pytest.fixture
def org():
    """FY2026: a mid and a senior engineer; 1M input + 1M output tokens paid $10 in all (an
    effective rate of $5 per million), at a table of $2 / $8 per million for the year."""
    carry_half()
    price(input_usd=2, output_usd=8, on=datetime(2025, 1, 1, tzinfo=UTC))
    mid = EmployeeFactory()
    senior = EmployeeFactory(level=level("senior"))
    for person in (mid, senior):
        employee_allocate_from_level(employee=person, fiscal_year=2026, acting_user=None)
    usage_post(
        employee=mid,
        event_id="index-usage",
        model_name=MODEL,
        occurred_at=datetime(2026, 5, 4, 12, tzinfo=UTC),
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        cost_micros=10 * DOLLAR,
    )
    return {"mid": mid, "senior": senior}


def price_fall():
    price(input_usd=1, output_usd=4, on=NEW_YEAR)  # the same mix costs $5: $2.50 per million


def price_rise():
    price(input_usd=3, output_usd=12, on=NEW_YEAR)  # $15: $7.50 per million


def allocations(org) -> dict[str, int]:
    """The new year's allocation entries posted for each person."""
    return {
        name: LedgerEntry.objects.get(
            budget__employee=person, budget__fiscal_year=2027, kind=EntryKind.ALLOCATION
        ).amount_micros
        for name, person in org.items()
    }


def commit_year(chunk_size=500):
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False, chunk_size=chunk_size)
    return rollover_execute(run=run, chunk_size=chunk_size).run


def test_the_effective_rates_are_what_the_year_paid_and_its_mix_at_the_new_table(org):
    price_fall()

    rates = year_effective_rates(fiscal_year=2026)

    assert rates.tokens == 2_000_000
    assert rates.cost_micros == 10 * DOLLAR
    assert rates.closing_per_million == Decimal("5.000000")
    assert rates.new_per_million == Decimal("2.500000")


@pytest.mark.parametrize(
    ("kind", "change", "options", "factor"),
    [
        (BudgetIndexing.DOLLARS, price_fall, {}, Decimal(1)),
        (BudgetIndexing.DOLLARS, price_rise, {}, Decimal(1)),
        (BudgetIndexing.TOKENS, price_fall, {}, Decimal("0.5")),
        (BudgetIndexing.TOKENS, price_rise, {}, Decimal("1.5")),
        (BudgetIndexing.BLEND, price_fall, {"weight": 50}, Decimal("0.75")),
        (BudgetIndexing.BLEND, price_rise, {"weight": 25}, Decimal("1.125")),
        (BudgetIndexing.TOKENS, price_fall, {"floor": 80, "cap": 120}, Decimal("0.8")),
        (BudgetIndexing.TOKENS, price_rise, {"floor": 80, "cap": 120}, Decimal("1.2")),
        (BudgetIndexing.BLEND, price_rise, {"weight": 50, "cap": 110}, Decimal("1.1")),
    ],
)
def test_each_policy_moves_the_new_allocations_by_its_factor(org, kind, change, options, factor):
    policy(kind, **options)
    change()

    run = commit_year()

    assert run.indexing_policy == kind
    assert run.indexing_factor == factor
    assert run.effective_rate_closing == Decimal(5)
    assert allocations(org) == {"mid": int(MID * factor), "senior": int(SENIOR * factor)}
    item = RolloverItem.objects.get(run=run, employee=org["mid"])
    assert (item.level_dollars_micros, item.allocated_micros) == (MID, int(MID * factor))
    if factor != 1:
        memo = LedgerEntry.objects.get(
            budget__employee=org["mid"], budget__fiscal_year=2027, kind=EntryKind.ALLOCATION
        ).memo
        assert "the level's $100,000.00 indexed to token prices" in memo


def test_without_usage_in_the_closing_year_the_factor_is_one_and_the_preview_says_why():
    carry_half()
    person = EmployeeFactory()
    employee_allocate_from_level(employee=person, fiscal_year=2026, acting_user=None)
    policy(BudgetIndexing.TOKENS, floor=50, cap=150)
    price_fall()

    run = rollover_preview(fiscal_year=2026, acting_user=None)

    assert run.indexing_factor == 1
    assert run.effective_rate_closing is None
    assert "No priced usage in FY2026" in run.indexing_note
    rollover_confirm(run=run, acting_user=None, enqueue=False)
    rollover_execute(run=run)
    assert allocations({"person": person}) == {"person": MID}


def test_the_commit_posts_what_the_preview_showed_owner_by_owner(org):
    policy(BudgetIndexing.BLEND, weight=30, floor=80)
    price_fall()  # tokens would be 0.5; 30 % of the way is 0.85, above the floor
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    rows = list(rollover_preview_rows(run))
    header, body = rows[0], rows[1:]
    column = header.index("new_allocation_usd")
    previewed = {row[1]: Decimal(row[column]) * DOLLAR for row in body if row[0] == "employee"}

    run = commit_year(chunk_size=1)

    assert run.indexing_factor == Decimal("0.85")
    posted = allocations(org)
    assert previewed == {
        org["mid"].email: posted["mid"],
        org["senior"].email: posted["senior"],
    }
    assert posted == {"mid": 85_000 * DOLLAR, "senior": 127_500 * DOLLAR}
    assert run.done_allocated_micros == run.allocated_micros


def test_a_resumed_run_keeps_the_factor_its_preview_fixed(org):
    policy(BudgetIndexing.TOKENS)
    price_fall()
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    run = rollover_confirm(run=run, acting_user=None, enqueue=False, chunk_size=1)
    first = rollover_execute(run=run, chunk_size=1, max_chunks=1)
    assert first.owners == 1 and not first.finished
    # the company changes its mind and the table moves again before the run resumes
    policy(BudgetIndexing.DOLLARS)
    TokenPrice.objects.filter(effective_from=NEW_YEAR).update(input_per_million_micros=0)

    assert rollover_preview(fiscal_year=2026, acting_user=None).indexing_factor == Decimal("0.5")
    resumed = rollover_execute(run=run, chunk_size=1)

    assert resumed.finished
    assert allocations(org) == {"mid": MID // 2, "senior": SENIOR // 2}


def test_the_page_and_the_command_show_the_policy_rates_factor_and_each_owners_amounts(org, client):
    policy(BudgetIndexing.TOKENS, floor=80)
    price_fall()
    run = rollover_preview(fiscal_year=2026, acting_user=None)
    client.force_login(finance_user())

    page = client.get(reverse("admin:budgets_rolloverrun_preview", args=[run.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Fixed in tokens at the effective rate" in text
    assert "$5.00 per million tokens" in text
    assert "$2.50 per million tokens" in text
    assert "0.800000" in text
    assert "raised to the floor of 80 %" in text
    assert "$150,000.00" in text and "$120,000.00" in text  # the senior's dollars, and new

    out = StringIO()
    call_command("rollover", fiscal_year=2026, dry_run=True, stdout=out)
    printed = out.getvalue()
    assert "FY2026 effective rate: $5.00 per million tokens" in printed
    assert "FY2027 rate: $2.50 per million tokens" in printed
    assert "Factor 0.800000" in printed
    assert f"{org['mid'].email}: $100,000.00 -> $80,000.00" in printed
    assert Budget.objects.filter(fiscal_year=2027).count() == 0  # a dry run moved nothing


def test_the_settings_refuse_a_floor_a_cap_or_a_blend_weight_out_of_range():
    row = CompanySettings.objects.get(pk=1)
    row.budget_indexing = BudgetIndexing.BLEND
    row.indexing_floor_pct = Decimal(120)
    row.indexing_cap_pct = Decimal(90)
    row.indexing_blend_weight = Decimal(150)

    with pytest.raises(ValidationError) as refused:
        row.full_clean()

    assert set(refused.value.message_dict) == {
        "indexing_floor_pct",
        "indexing_cap_pct",
        "indexing_blend_weight",
    }
    assert (
        "0 to 100 % of the level's dollars" in refused.value.message_dict["indexing_floor_pct"][0]
    )
    row.indexing_floor_pct, row.indexing_cap_pct, row.indexing_blend_weight = None, None, 100
    with pytest.raises(ValidationError) as blend:
        row.full_clean()
    assert "is fixed in tokens" in blend.value.message_dict["indexing_blend_weight"][0]


def test_the_factor_arithmetic_rounds_to_six_places_and_the_amounts_to_the_cent():
    rates = YearRates(Decimal("3"), Decimal("2"), 10, 30)
    decided = indexing_decide(
        policy=IndexingPolicy(BudgetIndexing.TOKENS), rates=rates, fiscal_year=2026
    )

    assert decided.factor == Decimal("0.666667")
    assert indexed_micros(100_000 * DOLLAR, decided.factor) == 66_666_700_000
    assert indexed_micros(12_345_678, Decimal(1)) == 12_345_678  # dollars: untouched
    assert indexed_micros(1_005_000, Decimal("0.5")) == 500_000  # $0.5025 -> $0.50
    assert indexed_micros(1_010_000, Decimal("0.5")) == 510_000  # $0.505 -> $0.51, half up
