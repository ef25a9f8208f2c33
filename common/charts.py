"""Server-rendered SVG charts: no JavaScript, no CDN, the same code for web pages and PDFs.

Values are Decimals or ints; labels are escaped. Each function returns safe SVG markup inside a
`<div class="chart">` (its own horizontal scroll box on a phone: allot.css).

Readable on a phone: column, line and running-total charts are drawn in a viewBox as wide as
their natural size in pixels and never shrink below it (`min-width`), so their 11 px text
stays 11 px; a narrow screen scrolls the chart in its box, never the page. A bar list has no
viewBox at all: its rows are laid out in percentages and its text in pixels, so it fits any
width at full size (each row: the label left and the value right on one line, the bar below).

Every chart says what it adds up (the checks in tests/browser read it): the `<svg>` carries
`data-chart` (its kind) and `data-total`, each part (a bar, a month's step of a running total)
`data-part`, both the values the chart was given, exactly. `data-total` is the caller's
`total` when it has one from elsewhere (the figure the page prints), else the parts' sum. A
line chart's points are levels (a price per month), not parts of a whole: they carry
`data-value` and the chart no total.
"""

from collections.abc import Callable, Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2f7d5b", "#3b6ea8", "#c9871a", "#8a4fa3", "#b3261e", "#4d8f99", "#7a7a3a", "#777"]
FONT_PX = 11  # the smallest text of any chart, on screen and in the PDF
FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_PX}"'
MAX_GROWTH = Decimal("1.5")  # a chart in a wide box grows to 1.5 times its size, no more


def _scale(values: Sequence[Decimal | int]) -> Decimal:
    top = max((Decimal(v) for v in values), default=Decimal(0))
    return top if top > 0 else Decimal(1)


def _exact(value: Decimal | int) -> str:
    """A value as the data attributes carry it: an int as it is, a Decimal without exponent."""
    return str(value) if isinstance(value, int) else f"{Decimal(value):f}"


def _svg_open(
    kind: str, *, width: int, height: int, title: str, total: Decimal | int | None
) -> str:
    """The box and the `<svg>` of a viewBox chart, at least `width` pixels wide."""
    data_total = "" if total is None else f' data-total="{_exact(total)}"'
    return (
        f'<div class="chart chart-{kind}"><svg xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" '
        f'style="min-width: {width}px; max-width: {width * MAX_GROWTH:.0f}px" role="img" '
        f'aria-label="{escape(title)}" data-chart="{kind}"{data_total} {FONT}>'
        f"<title>{escape(title)}</title>"
    )


_SVG_CLOSE = "</svg></div>"


def column_chart(
    points: Sequence[tuple[str, Decimal | int]],
    *,
    format_value: Callable[[Decimal | int], str],
    width: int = 480,
    height: int = 220,
    title: str = "",
    total: Decimal | int | None = None,
    format_label: Callable[[Decimal | int], str] | None = None,
) -> SafeString:
    """Vertical bars, one per point (e.g. spend per month), value on top of each bar
    (`format_label`, if given, writes it short there; the bar's tooltip has it in full)."""
    if not points:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    top = _scale([v for _, v in points])
    plot_top, plot_bottom, left = 24, height - 24, 8
    slot = (width - 2 * left) / len(points)
    bar = max(4.0, slot * 0.7)
    label_of = format_label or format_value
    whole = sum((v for _, v in points), 0) if total is None else total
    parts = [
        _svg_open("column", width=width, height=height, title=title, total=whole),
        f'<line x1="{left}" y1="{plot_bottom}" x2="{width - left}" y2="{plot_bottom}" '
        'stroke="#bbb"/>',
    ]
    for index, (label, value) in enumerate(points):
        share = Decimal(value) / top
        bar_height = float(share) * (plot_bottom - plot_top)
        x = left + index * slot + (slot - bar) / 2
        y = plot_bottom - bar_height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{bar_height:.1f}" '
            f'fill="{PALETTE[0]}" data-part="{_exact(value)}">'
            f"<title>{escape(label)}: {escape(format_value(value))}</title></rect>"
        )
        center = x + bar / 2
        parts.append(
            f'<text x="{center:.1f}" y="{height - 8}" text-anchor="middle" fill="#555">'
            f"{escape(label)}</text>"
        )
        if value:
            parts.append(
                f'<text x="{center:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="#333">'
                f"{escape(label_of(value))}</text>"
            )
    parts.append(_SVG_CLOSE)
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def bar_list(
    items: Sequence[tuple[str, Decimal | int]],
    *,
    format_value: Callable[[Decimal | int], str],
    row_height: int = 30,
    title: str = "",
    total: Decimal | int | None = None,
) -> SafeString:
    """Horizontal bars with a label and value each (e.g. spend by category or by model): per
    row the label at the left and the value at the right, the bar under them, in percentages of
    whatever width the box has, text in pixels."""
    if not items:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    top = _scale([v for _, v in items])
    height = row_height * len(items) + 2
    whole = sum((v for _, v in items), 0) if total is None else total
    parts = [
        '<div class="chart chart-bars"><svg xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'height="{height}" role="img" aria-label="{escape(title)}" data-chart="bars" '
        f'data-total="{_exact(whole)}" {FONT} font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(items):
        y = index * row_height
        length = max(float(Decimal(value) / top) * 100, 0.3)
        parts.append(
            f'<text x="0" y="{y + 13}" fill="#333">{escape(label)}</text>'
            f'<text x="100%" y="{y + 13}" text-anchor="end" fill="#333">'
            f"{escape(format_value(value))}</text>"
            f'<rect x="0" y="{y + 18}" width="{length:.2f}%" height="8" rx="2" '
            f'fill="{PALETTE[(index + 1) % len(PALETTE)]}" data-part="{_exact(value)}">'
            f"<title>{escape(label)}: {escape(format_value(value))}</title></rect>"
        )
    parts.append(_SVG_CLOSE)
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def line_chart(
    points: Sequence[tuple[str, Decimal | int | None]],
    *,
    format_value: Callable[[Decimal | int], str],
    width: int = 480,
    height: int = 220,
    title: str = "",
) -> SafeString:
    """A line over labelled points (e.g. price per million tokens by month), a dot and value at
    each point; a None value leaves a gap in the line."""
    known = [Decimal(v) for _, v in points if v is not None]
    if not known:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    # A line shows change, so the axis spans the values (with a margin), not zero to the top.
    low, high = min(known), max(known)
    margin = (high - low) / 4 or (high / 10 if high else Decimal(1))
    low, span = max(low - margin, Decimal(0)), (high + margin) - max(low - margin, Decimal(0))
    plot_top, plot_bottom, left = 24, height - 24, 24
    slot = (width - 2 * left) / max(len(points), 1)
    parts = [
        _svg_open("line", width=width, height=height, title=title, total=None),
        f'<line x1="{left}" y1="{plot_bottom}" x2="{width - left}" y2="{plot_bottom}" '
        'stroke="#bbb"/>',
    ]
    segment: list[str] = []
    segments: list[list[str]] = []
    for index, (label, value) in enumerate(points):
        x = left + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" fill="#555">'
            f"{escape(label)}</text>"
        )
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = plot_bottom - float((Decimal(value) - low) / span) * (plot_bottom - plot_top)
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[1]}" '
            f'data-value="{_exact(value)}">'
            f"<title>{escape(label)}: {escape(format_value(value))}</title></circle>"
            f'<text x="{x:.1f}" y="{y - 7:.1f}" text-anchor="middle" fill="#333">'
            f"{escape(format_value(value))}</text>"
        )
    if segment:
        segments.append(segment)
    for line in segments:
        parts.insert(
            2,
            f'<polyline points="{" ".join(line)}" fill="none" stroke="{PALETTE[1]}" '
            'stroke-width="2"/>',
        )
    parts.append(_SVG_CLOSE)
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def _steps(values: Sequence[Decimal | int | None]) -> list[Decimal | int | None]:
    """Each known point of a running total less the one before it (the first: itself)."""
    steps: list[Decimal | int | None] = []
    before: Decimal | int = 0
    for value in values:
        steps.append(None if value is None else value - before)
        before = before if value is None else value
    return steps


def cumulative_chart(
    labels: Sequence[str],
    actual: Sequence[Decimal | int | None],
    projected: Sequence[Decimal | int | None],
    *,
    limit: Decimal | int,
    format_value: Callable[[Decimal | int], str],
    width: int = 480,
    height: int = 220,
    title: str = "",
    total: Decimal | int | None = None,
    format_label: Callable[[Decimal | int], str] | None = None,
) -> SafeString:
    """Running total against a limit: a solid line for what has happened (`actual`), a dashed
    one for the projection, the limit as a horizontal line; axis from zero. None: no point.
    Its parts are the months' steps of `actual`; its total the last of them, or `total`.
    `format_label` (if given) writes the values drawn on the chart short; tooltips in full."""
    known = [Decimal(v) for v in (*actual, *projected) if v is not None]
    if not known and not limit:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    top = _scale([*known, Decimal(limit)])
    plot_top, plot_bottom, left, right = 24, height - 24, 24, 64
    slot = (width - left - right) / max(len(labels), 1)

    def y_of(value) -> float:
        return plot_bottom - float(Decimal(value) / top) * (plot_bottom - plot_top)

    def x_of(index: int) -> float:
        return left + index * slot + slot / 2

    label_of = format_label or format_value
    reached = [v for v in actual if v is not None]
    whole = total if total is not None else (reached[-1] if reached else 0)
    parts = [
        _svg_open("cumulative", width=width, height=height, title=title, total=whole),
        f'<line x1="{left}" y1="{plot_bottom}" x2="{width - right}" y2="{plot_bottom}" '
        'stroke="#bbb"/>',
    ]
    for index, label in enumerate(labels):
        parts.append(
            f'<text x="{x_of(index):.1f}" y="{height - 8}" text-anchor="middle" fill="#555">'
            f"{escape(label)}</text>"
        )
    if limit:
        y = y_of(limit)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{PALETTE[4]}" stroke-width="1.5" class="limit">'
            f"<title>Budget: {escape(format_value(limit))}</title></line>"
            f'<text x="{left}" y="{y - 4:.1f}" fill="{PALETTE[4]}">'
            f"Budget {escape(label_of(limit))}</text>"
        )
    steps = _steps(actual)
    for values, colour, dash, css in (
        (projected, PALETTE[2], ' stroke-dasharray="5 4"', "projection"),
        (actual, PALETTE[0], "", "actual"),
    ):
        points = [(x_of(i), y_of(v), v, i) for i, v in enumerate(values) if v is not None]
        if not points:
            continue
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash} '
            f'class="{css}"/>'
        )
        for x, y, value, index in points:
            part = f' data-part="{_exact(steps[index])}"' if css == "actual" else ""
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"{part}>'
                f"<title>{escape(labels[index])}: {escape(format_value(value))}</title></circle>"
            )
        x, y, value, _ = points[-1]
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" fill="{colour}">'
            f"{escape(label_of(value))}</text>"
        )
    parts.append(_SVG_CLOSE)
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above
