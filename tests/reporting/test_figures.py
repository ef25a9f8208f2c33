"""Every figure of the report against an independent computation from the ledger, in the
snapshot, in the CSV and (headline totals) in the PDF's text."""

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from pypdf import PdfReader

from budgets.models import Budget, EntryKind, LedgerEntry, UsageCategory
from common.money import format_usd, micros_to_dollars, quantize_cents
from reporting.rendering import report_csv, report_pdf
from reporting.selectors import report_data
from tests.reporting.conftest import at, dollars

Q1_START, Q1_END = at(2026, 4, 1), at(2026, 7, 1)


def usage_by(group: str, start=Q1_START, end=Q1_END) -> dict:
    """The usage ledger entries whose events occurred in [start, end), summed by `group`."""
    return dict(
        LedgerEntry.objects.filter(
            kind=EntryKind.USAGE,
            usage_event__occurred_at__gte=start,
            usage_event__occurred_at__lt=end,
        )
        .values(group)
        .annotate(total=Sum("amount_micros"))
        .values_list(group, "total")
    )


def corrections(start=Q1_START, end=Q1_END) -> int:
    return (
        LedgerEntry.objects.filter(
            kind=EntryKind.USAGE_CORRECTION, created_at__gte=start, created_at__lt=end
        ).aggregate(total=Sum("amount_micros"))["total"]
        or 0
    )


def table(data: dict, key: str) -> dict:
    return next(t for t in data["tables"] if t["key"] == key)


def rows(data: dict, key: str) -> dict:
    return {row[0]: row for row in table(data, key)["rows"]}


def csv_tables(text: str) -> dict[str, list[list[str]]]:
    """The CSV's blocks by table key: the header row, the rows and the total row."""
    blocks: dict[str, list[list[str]]] = {}
    current = None
    for line in csv.reader(io.StringIO(text)):
        if not line:
            current = None
        elif line[0].startswith("[") and line[0].endswith("]"):
            current = blocks.setdefault(line[0][1:-1], [])
        elif current is not None:
            current.append(line)
    return blocks


def cents(micros: int) -> Decimal:
    return quantize_cents(micros_to_dollars(micros))


@pytest.fixture
def q1(company):
    return report_data(fiscal_year=2026, quarter=1, as_of=timezone.now())


def test_headline_equals_the_ledger_with_boundary_seconds(company, q1):
    # given the usage ledger of the quarter: the first second of April 1 is in, the last second
    # of March 31 and the first of July 1 are out
    usage = sum(usage_by("kind").values())
    assert usage == dollars("10.5") + dollars("20.25") + dollars("100.123456") + dollars("3.333333")
    spend = usage + corrections()
    headline = rows(q1, "headline")
    # then
    assert headline["Usage"][1:] == [usage, usage]  # Q1 is the year to date too
    assert headline["Price corrections"][1] == -dollars("1")
    assert headline["Token spend"][1:] == [spend, spend]
    assert q1["quarter_spend"] == spend
    # the same quarter a year earlier: alice's event in May 2025, from the ledger
    assert headline["Same quarter last year"][1] == sum(
        usage_by("kind", at(2025, 4, 1), at(2025, 7, 1)).values()
    )
    annual = (
        LedgerEntry.objects.filter(budget__fiscal_year=2026)
        .exclude(kind__in=[EntryKind.USAGE, EntryKind.USAGE_CORRECTION])
        .aggregate(total=Sum("amount_micros"))["total"]
    )
    assert headline["Annual budget"][2] == annual == q1["annual_budget"]
    engineers = Budget.objects.filter(fiscal_year=2026, employee__isnull=False).count()
    assert headline["Engineers with a budget"][1] == engineers == 4
    assert headline["Tokens bought"][1] == 4 * 1500


@pytest.mark.parametrize(
    ("key", "group", "label_of"),
    [
        (
            "by_department",
            "usage_event__employee__team__department__name",
            lambda v: v or "No department",
        ),
        (
            "by_team",
            "usage_event__employee__team__name",
            lambda v: {"Lakehouse": "Lakehouse (Data)", "Runtime": "Runtime (Platform)"}[v],
        ),
        ("by_level", "usage_event__employee__level__name", lambda v: v),
        (
            "by_project",
            "usage_event__project__code",
            lambda v: "Apollo (apollo)" if v else "No project",
        ),
        ("by_model", "usage_event__model_name", lambda v: v),
        ("by_category", "usage_event__category", lambda v: UsageCategory(v).label),
    ],
)
def test_each_breakdown_equals_the_ledger_grouped_the_same_way(company, q1, key, group, label_of):
    expected = defaultdict(int)
    for value, total in usage_by(group).items():
        if key == "by_team" and value is None:
            expected["No team"] += total
        else:
            expected[label_of(value)] += total
    expected["Price corrections"] = corrections()
    got = {label: row[1] for label, row in rows(q1, key).items() if row[1] or label in expected}
    assert got == dict(expected)
    # every total is the sum of its parts and equals the headline
    assert table(q1, key)["total"][1] == sum(expected.values()) == q1["quarter_spend"]

    # and the CSV has the same numbers to the cent
    block = csv_tables(report_csv(q1))[key]
    csv_rows = {line[0]: line for line in block[1:]}
    for label, micros in expected.items():
        assert Decimal(csv_rows[label][1]) == cents(micros)
    assert Decimal(csv_rows["Total"][1]) == cents(q1["quarter_spend"])


def test_year_to_date_differs_from_the_quarter_in_q2(company):
    # given Q2: bob's July 1 event is in, and the year to date holds Q1 too
    data = report_data(fiscal_year=2026, quarter=2, as_of=timezone.now())
    q2 = sum(usage_by("kind", at(2026, 7, 1), at(2026, 10, 1)).values())
    ytd = sum(usage_by("kind", at(2026, 4, 1), at(2026, 10, 1)).values())
    headline = rows(data, "headline")
    assert headline["Usage"][1:] == [q2, ytd] == [dollars("50"), ytd]
    assert headline["Token spend"][2] == ytd + corrections(at(2026, 4, 1), at(2026, 10, 1))
    by_department = table(data, "by_department")
    assert by_department["total"][3] == headline["Token spend"][2]


def test_utilisation_spread_counts_every_budget_of_the_year(company, q1):
    spent, allocated = defaultdict(int), defaultdict(int)
    for entry in LedgerEntry.objects.filter(budget__fiscal_year=2026):
        if entry.kind == EntryKind.USAGE:
            if entry.usage_event.occurred_at < Q1_END:
                spent[entry.budget_id] += entry.amount_micros
        elif entry.kind == EntryKind.USAGE_CORRECTION:
            spent[entry.budget_id] += entry.amount_micros
        else:
            allocated[entry.budget_id] += entry.amount_micros
    buckets = defaultdict(int)
    for budget in Budget.objects.filter(fiscal_year=2026):
        share = Decimal(spent[budget.pk]) / allocated[budget.pk]
        bucket = (
            "Under 25 %"
            if share < Decimal("0.25")
            else "25 – 75 %"
            if share < Decimal("0.75")
            else "75 – 100 %"
            if share <= 1
            else "Over 100 %"
        )
        buckets[bucket] += 1
    spread = rows(q1, "utilisation")
    assert {label: row[1] for label, row in spread.items() if row[1]} == dict(buckets)
    assert buckets["25 – 75 %"] == 1  # carol: $3.33 of $10
    assert table(q1, "utilisation")["total"][1:5:3] == [5, sum(spent.values())]


def test_forecast_projects_the_quarter_burn_rate_to_year_end(company, q1):
    spend = q1["quarter_spend"]
    rate = (Decimal(spend) / 91).to_integral_value(rounding="ROUND_HALF_UP")  # Apr-Jun: 91 days
    days_left = (date(2027, 4, 1) - date(2026, 7, 1)).days
    forecast = rows(q1, "forecast")
    assert forecast["Burn rate per day (this quarter)"][1] == rate
    assert forecast["Projected spend for the year"][1] == spend + rate * days_left
    # carol burns $3.33 a quarter of a $10 budget: she runs out; nobody else does
    carol_rate = (Decimal(dollars("3.333333")) / 91).to_integral_value(rounding="ROUND_HALF_UP")
    left = dollars("10") - dollars("3.333333")
    runs_out_on = date(2026, 7, 1).toordinal() + -(-left // int(carol_rate))
    [(owner, kind, allocated, spent, projected, day)] = table(q1, "runs_out")["rows"]
    assert (kind, allocated, spent) == ("Personal", dollars("10"), dollars("3.333333"))
    assert projected == dollars("3.333333") + carol_rate * days_left
    assert date.fromisoformat(day) == date.fromordinal(runs_out_on)


def test_carryover_liability_and_forfeitures_come_from_the_ledger_kinds(company, q1):
    bob = company["budgets"][company["bob"].pk]
    carried = LedgerEntry.objects.get(budget=bob, kind=EntryKind.CARRYOVER_IN).amount_micros
    expired = -LedgerEntry.objects.get(budget=bob, kind=EntryKind.EXPIRY).amount_micros
    bob_spent = dollars("100.123456") - dollars("1")
    carryover = rows(q1, "carryover")
    assert carryover["Carried in from last year"][1] == carried == dollars("500")
    assert carryover["Expired"][1] == -expired
    assert carryover["Liability: carried over and still unspent"][1] == (
        carried - expired - bob_spent
    )
    forfeitures = rows(q1, "forfeitures")
    assert forfeitures["Forfeiture"][1:3] == [1, dollars("30")]
    assert forfeitures["Expiry"][1:3] == [1, dollars("100")]
    assert table(q1, "forfeitures")["total"][1:3] == [2, dollars("130")]


def test_approvals_this_quarter_by_kind_and_final_approver(company, q1):
    by_kind = rows(q1, "approvals_by_kind")
    assert by_kind["Budget increase"][1:] == [1, dollars("1000")]
    assert rows(q1, "approvals_by_level")["Manager"][1:] == [1, dollars("1000")]
    # the approved increase is in the annual budget too (it is a ledger entry)
    assert LedgerEntry.objects.filter(
        kind=EntryKind.APPROVED_INCREASE
    ).get().amount_micros == dollars("1000")


def test_productivity_spend_per_unit(company, q1):
    productivity = rows(q1, "productivity")
    # Lakehouse recorded 10 + 5 merged PRs in April and May; its members spent in those months
    team_spend = dollars("10.5") + dollars("20.25")
    row = productivity["merged_pull_requests"]
    assert row[2:] == ["15.00", team_spend, team_spend // 15]
    trend = table(q1, "productivity_trend")["rows"]
    assert [(r[1], r[4]) for r in trend] == [
        ("Apr 2026", dollars("1.05")),
        ("May 2026", dollars("4.05")),
    ]


def test_price_trend_months_add_up_to_the_usage(company, q1):
    trend = table(q1, "price_trend")
    assert [r[0] for r in trend["rows"]] == ["Apr 2026", "May 2026", "Jun 2026"]
    assert trend["total"][1] == sum(usage_by("kind").values())
    assert trend["total"][2] == 4 * 1500


def test_the_pdf_shows_the_headline_totals_as_the_csv_has_them(company, q1):
    headline = {line[0]: line for line in csv_tables(report_csv(q1))["headline"]}
    quarter_csv, year_csv = headline["Token spend"][1:3]
    assert Decimal(quarter_csv) == cents(q1["quarter_spend"])

    pdf = report_pdf(q1)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert format_usd(q1["quarter_spend"]) in text
    # the same figure, digit for digit, once the thousands separators are taken out
    plain = text.replace(",", "").replace("$", "")
    assert quarter_csv in plain and year_csv in plain
    assert "Page 1 of" not in text  # the cover has no running footer
    assert f"of {len(PdfReader(io.BytesIO(pdf)).pages)}" in text
    assert "Acme & Sons" in text


def test_a_quarter_without_usage_renders_and_says_so(april_company):
    data = report_data(fiscal_year=2024, quarter=2, as_of=timezone.now())
    assert data["has_usage"] is False
    assert data["quarter_spend"] == 0
    pdf = report_pdf(data)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "No usage in this quarter" in text
    assert "$0.00" in text
    assert report_csv(data).count("[") >= 10


def test_the_appendix_lists_every_budget_only_when_asked(company):
    without = report_data(fiscal_year=2026, quarter=1)
    assert "appendix" not in {t["key"] for t in without["tables"]}
    data = report_data(fiscal_year=2026, quarter=1, include_appendix=True)
    appendix = table(data, "appendix")
    assert len(appendix["rows"]) == Budget.objects.filter(fiscal_year=2026).count()
    assert appendix["total"][3] == data["year_spend"]


def test_a_long_table_repeats_its_header_on_every_page(april_company):
    from budgets.services import budget_allocate, budget_create
    from tests.factories import EmployeeFactory

    for _ in range(90):
        budget, _ = budget_create(fiscal_year=2026, employee=EmployeeFactory())
        budget_allocate(budget=budget, amount_micros=dollars("1000"), acting_user=None)
    data = report_data(fiscal_year=2026, quarter=1, include_appendix=True)
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(report_pdf(data))).pages]
    # page 1 is the cover, page 2 the contents (which names the appendix too)
    first = next(i for i in range(2, len(pages)) if "Appendix: every budget" in pages[i])
    appendix_pages = pages[first:]
    assert len(appendix_pages) >= 2
    # "Remaining" is a column only the appendix has: its header is on each of its pages
    assert all("Remaining" in text for text in appendix_pages)


def test_the_csv_has_every_table_and_every_amount_to_the_cent(company, q1):
    blocks = csv_tables(report_csv(q1))
    assert set(blocks) == {t["key"] for t in q1["tables"]}
    for snapshot_table in q1["tables"]:
        lines = blocks[snapshot_table["key"]][1:]
        expected_rows = snapshot_table["rows"] + (
            [snapshot_table["total"]] if snapshot_table["total"] else []
        )
        assert len(lines) == len(expected_rows), snapshot_table["key"]
        for index, (line, row) in enumerate(zip(lines, expected_rows, strict=True)):
            kinds = [c["kind"] for c in snapshot_table["columns"]]
            if "row_kinds" in snapshot_table and index < len(snapshot_table["rows"]):
                kinds = [snapshot_table["row_kinds"][index] if k == "row" else k for k in kinds]
            for cell, value, kind in zip(line, row, kinds, strict=True):
                if kind == "money" and value is not None:
                    assert Decimal(cell) == cents(value), (snapshot_table["key"], row)


def test_the_pdf_has_every_table_and_its_charts(company, q1):
    pdf = report_pdf(q1)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    for snapshot_table in q1["tables"]:
        assert snapshot_table["title"] in text
    assert "merged_pull_requests" in text  # the productivity metric and its spend per unit
    assert format_usd(dollars("30.75") // 15) in text


def test_every_table_column_adds_up_to_its_total_row(company):
    """Found by review: a project with an allocation but no usage counted in the allocation
    total without a row of its own."""
    from budgets.services import budget_allocate, budget_create
    from reporting.selectors import report_data
    from tests.factories import ProjectFactory

    idle, _ = budget_create(fiscal_year=2026, project=ProjectFactory(code="idle", name="Idle"))
    budget_allocate(budget=idle, amount_micros=7_000_000_000, acting_user=None)

    snapshot = report_data(fiscal_year=2026, quarter=1)

    checked = set()
    for table in snapshot["tables"]:
        total = table.get("total")
        if not total:
            continue
        for index, column in enumerate(table["columns"]):
            label = column["label"].lower()
            if column["kind"] != "money" or total[index] is None:
                continue
            if label.startswith("per ") or " per " in label or "average" in label:
                continue  # a rate, not a sum
            added = sum(row[index] or 0 for row in table["rows"])
            assert added == total[index], (table["key"], column["label"])
            checked.add(table["key"])
    assert {"by_department", "by_team", "by_level", "by_project", "by_model"} <= checked
