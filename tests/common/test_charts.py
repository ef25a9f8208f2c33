"""common/charts: each kind of chart says what it adds up (data-part, data-total, exactly as
given), keeps its text at a readable size, and escapes its labels."""

import re
from decimal import Decimal

from common.charts import FONT_PX, bar_list, column_chart, cumulative_chart, line_chart
from common.money import format_usd_short


def parts_and_total(svg: str) -> tuple[list[Decimal], Decimal | None]:
    parts = [Decimal(p) for p in re.findall(r'data-part="([^"]+)"', svg)]
    total = re.search(r'data-total="([^"]+)"', svg)
    return parts, Decimal(total.group(1)) if total else None


def font_sizes(svg: str) -> set[int]:
    return {int(size) for size in re.findall(r'font-size="([0-9]+)"', svg)}


def test_a_column_chart_has_a_part_per_bar_and_their_sum_as_its_total():
    svg = column_chart([("Jan", 3_000_000), ("Feb", 0), ("Mar", 1_250_001)], format_value=str)
    parts, total = parts_and_total(svg)
    assert parts == [3_000_000, 0, 1_250_001] and total == 4_250_001
    assert svg.count("<rect") == 3 and 'data-chart="column"' in svg


def test_a_column_chart_prints_the_total_it_is_given_so_a_lost_part_shows():
    svg = column_chart([("Jan", 5), ("Feb", 6)], format_value=str, total=12)
    parts, total = parts_and_total(svg)
    assert sum(parts) == 11 and total == 12


def test_a_column_chart_writes_short_labels_on_the_bars_and_the_full_value_in_tooltips():
    svg = column_chart(
        [("Jan", 12_345_670_000)],
        format_value=lambda v: "$12,345.67",
        format_label=format_usd_short,
    )
    assert ">$12.3k</text>" in svg and "Jan: $12,345.67</title>" in svg


def test_a_bar_list_has_a_part_per_row_laid_out_in_percentages_with_no_viewbox():
    items = [("Code generation", 7_000_000), ("Testing", 3_500_000), ("Design", 0)]
    svg = bar_list(items, format_value=str, title="Spend by category", total=10_500_000)
    parts, total = parts_and_total(svg)
    assert parts == [7_000_000, 3_500_000, 0] and total == 10_500_000 == sum(parts)
    assert "viewBox" not in svg and 'width="100.00%"' in svg and 'width="50.00%"' in svg
    assert 'x="100%" y="13" text-anchor="end"' in svg  # the value at the right of its row


def test_a_running_total_chart_has_each_months_step_as_a_part_and_ends_at_its_total():
    svg = cumulative_chart(
        ["Jan", "Feb", "Mar", "Apr"],
        [1_000_000, 2_500_000, 2_500_000, None],
        [None, None, 2_500_000, 3_300_000],
        limit=10_000_000,
        format_value=str,
        total=2_500_000,
    )
    parts, total = parts_and_total(svg)
    assert parts == [1_000_000, 1_500_000, 0] and total == 2_500_000 == sum(parts)
    assert 'data-chart="cumulative"' in svg


def test_a_running_total_chart_without_a_given_total_ends_at_its_last_point():
    svg = cumulative_chart(["Jan", "Feb"], [4, 9], [None, 9], limit=20, format_value=str)
    parts, total = parts_and_total(svg)
    assert parts == [4, 5] and total == 9


def test_a_line_chart_marks_its_points_as_values_and_claims_no_total():
    svg = line_chart(
        [("Apr", 3), ("May", None), ("Jun", Decimal("2.50"))], format_value=lambda v: f"${v}"
    )
    assert re.findall(r'data-value="([^"]+)"', svg) == ["3", "2.50"]
    assert "data-total" not in svg and "data-part" not in svg
    assert svg.count("<circle") == 2 and svg.count("<polyline") == 2  # the gap splits the line
    assert "$3" in svg and "Apr" in svg
    assert line_chart([("Apr", None)], format_value=str) == ""


def test_decimal_values_are_written_exactly_never_with_an_exponent():
    svg = bar_list([("a", Decimal("1E+2")), ("b", Decimal("12.5"))], format_value=lambda v: "")
    _, total = parts_and_total(svg)
    assert 'data-part="100"' in svg and total == Decimal("112.5") and "E+" not in svg


def test_no_chart_draws_text_below_the_readable_size_nor_shrinks_below_its_own_width():
    charts = [
        column_chart([("Jan", 1)], format_value=str, width=480),
        line_chart([("Jan", 1)], format_value=str, width=480),
        cumulative_chart(["Jan"], [1], [1], limit=2, format_value=str, width=480),
    ]
    for svg in charts:
        assert min(font_sizes(svg)) >= FONT_PX
        assert 'viewBox="0 0 480 ' in svg and "min-width: 480px" in svg
    assert min(font_sizes(bar_list([("a", 1)], format_value=str))) >= FONT_PX


def test_labels_are_escaped():
    svg = line_chart([("<b>", 1)], format_value=str)
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    svg = bar_list([("<i>", 1)], format_value=str, title='"x"')
    assert "<i>" not in svg and "&lt;i&gt;" in svg and 'aria-label="&quot;x&quot;"' in svg
