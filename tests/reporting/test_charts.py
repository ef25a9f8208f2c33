from decimal import Decimal

from common.charts import bar_list, column_chart, line_chart


def test_line_chart_draws_a_point_per_value_and_gaps_for_none():
    svg = line_chart(
        [("Apr", 3), ("May", None), ("Jun", Decimal(2))], format_value=lambda v: f"${v}"
    )
    assert svg.startswith("<svg") and svg.count("<circle") == 2
    assert svg.count("<polyline") == 2  # the gap splits the line
    assert "$3" in svg and "Apr" in svg
    assert line_chart([("Apr", None)], format_value=str) == ""


def test_bar_list_keeps_its_default_and_takes_a_wider_label_column():
    items = [("Payments (Product Engineering)", 10)]
    default = bar_list(items, format_value=str)
    wide = bar_list(items, format_value=str, label_width=200)
    assert 'x="130"' in default and 'x="200"' in wide
    assert column_chart([("Q1", 1)], format_value=str).startswith("<svg")


def test_labels_are_escaped():
    svg = line_chart([("<b>", 1)], format_value=str)
    assert "<b>" not in svg and "&lt;b&gt;" in svg
