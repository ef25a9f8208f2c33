"""Server-rendered SVG charts: no JavaScript, no CDN, the same code for web pages and PDFs.

Values are Decimals or ints; labels are escaped. Each function returns safe SVG markup.
"""

from collections.abc import Callable, Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ["#2f7d5b", "#3b6ea8", "#c9871a", "#8a4fa3", "#b3261e", "#4d8f99", "#7a7a3a", "#777"]
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _scale(values: Sequence[Decimal | int]) -> Decimal:
    top = max((Decimal(v) for v in values), default=Decimal(0))
    return top if top > 0 else Decimal(1)


def column_chart(
    points: Sequence[tuple[str, Decimal | int]],
    *,
    format_value: Callable[[Decimal | int], str],
    width: int = 640,
    height: int = 220,
    title: str = "",
) -> SafeString:
    """Vertical bars, one per point (e.g. spend per month), value on top of each bar."""
    if not points:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    top = _scale([v for _, v in points])
    plot_top, plot_bottom, left = 24, height - 24, 8
    slot = (width - 2 * left) / len(points)
    bar = max(4.0, slot * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
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
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {escape(format_value(value))}</title>'
            "</rect>"
        )
        center = x + bar / 2
        parts.append(
            f'<text x="{center:.1f}" y="{height - 8}" text-anchor="middle" fill="#555">'
            f"{escape(label)}</text>"
        )
        if value:
            parts.append(
                f'<text x="{center:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="#333" '
                f'font-size="9">{escape(format_value(value))}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def bar_list(
    items: Sequence[tuple[str, Decimal | int]],
    *,
    format_value: Callable[[Decimal | int], str],
    width: int = 420,
    row_height: int = 22,
    title: str = "",
    label_width: int = 130,
) -> SafeString:
    """Horizontal bars with a label and value each (e.g. spend by category or by model)."""
    if not items:
        return mark_safe("")  # nosec B308  # noqa: S308 - constant
    top = _scale([v for _, v in items])
    value_width = 90
    bar_space = width - label_width - value_width
    height = row_height * len(items) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(items):
        y = index * row_height + 2
        length = float(Decimal(value) / top) * bar_space
        parts.append(
            f'<text x="0" y="{y + 14}" fill="#333">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 4}" width="{max(length, 1):.1f}" '
            f'height="{row_height - 8}" fill="{PALETTE[(index + 1) % len(PALETTE)]}"/>'
            f'<text x="{width}" y="{y + 14}" text-anchor="end" fill="#333">'
            f"{escape(format_value(value))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def line_chart(
    points: Sequence[tuple[str, Decimal | int | None]],
    *,
    format_value: Callable[[Decimal | int], str],
    width: int = 640,
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
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
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
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{PALETTE[1]}">'
            f"<title>{escape(label)}: {escape(format_value(value))}</title></circle>"
            f'<text x="{x:.1f}" y="{y - 7:.1f}" text-anchor="middle" fill="#333" '
            f'font-size="9">{escape(format_value(value))}</text>'
        )
    if segment:
        segments.append(segment)
    for line in segments:
        parts.insert(
            3,
            f'<polyline points="{" ".join(line)}" fill="none" stroke="{PALETTE[1]}" '
            'stroke-width="2"/>',
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above


def cumulative_chart(
    labels: Sequence[str],
    actual: Sequence[Decimal | int | None],
    projected: Sequence[Decimal | int | None],
    *,
    limit: Decimal | int,
    format_value: Callable[[Decimal | int], str],
    width: int = 640,
    height: int = 220,
    title: str = "",
) -> SafeString:
    """Running total against a limit: a solid line for what has happened (`actual`), a dashed
    one for the projection, the limit as a horizontal line; axis from zero. None: no point."""
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

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" {FONT}>',
        f"<title>{escape(title)}</title>",
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
            f"Budget {escape(format_value(limit))}</text>"
        )
    for values, colour, dash, css in (
        (projected, PALETTE[2], ' stroke-dasharray="5 4"', "projection"),
        (actual, PALETTE[0], "", "actual"),
    ):
        points = [(x_of(i), y_of(v), v, labels[i]) for i, v in enumerate(values) if v is not None]
        if not points:
            continue
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"{dash} '
            f'class="{css}"/>'
        )
        for x, y, value, label in points:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(label)}: {escape(format_value(value))}</title></circle>"
            )
        x, y, value, _ = points[-1]
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 6:.1f}" fill="{colour}" font-size="10">'
            f"{escape(format_value(value))}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # nosec B308 B703  # noqa: S308 - every label and value is escaped above
