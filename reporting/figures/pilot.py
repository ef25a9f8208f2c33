"""Each pilot that ran in the period against its control group, before and during the pilot:
the comparison of `pilots.comparison.pilot_compare` as one table a pilot."""

from decimal import Decimal

from pilots.comparison import GroupFigures, PilotComparison
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import table

# The per-person metric columns (before, during) of a pilot's table: the chart draws them.
PER_PERSON_COLUMNS = (8, 9)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _group_row(label: str, group: GroupFigures) -> list:
    return [
        label,
        group.people,
        group.before.spend_micros,
        group.during.spend_micros,
        str(group.before.units),
        str(group.during.units),
        group.before.spend_per_unit_micros,
        group.during.spend_per_unit_micros,
        _text(group.before.units_per_person),
        _text(group.during.units_per_person),
        _text(group.change_per_person),
    ]


def pilot_table(comparison: PilotComparison) -> dict:
    metric = comparison.metric_label
    windows = (
        f"Before: {comparison.before.start:%d %b %Y} to {comparison.before.end:%d %b %Y}; "
        f"during: {comparison.during.start:%d %b %Y} to {comparison.during.end:%d %b %Y} "
        f"({comparison.during.days} days each)."
    )
    counted = metric[0].lower() + metric[1:]
    verdict = comparison.note or (
        f"Difference in differences: the pilot's change in {counted} per person minus the "
        f"control group's is {comparison.difference}."
    )
    blank = [None] * 9
    return table(
        f"pilot_{comparison.cohort_id}",
        f"Pilot: {comparison.name}",
        "pilot",
        [
            ("Group", "text"),
            ("People", "count"),
            ("Spend before", "money"),
            ("Spend during", "money"),
            (f"{metric} before", "decimal"),
            (f"{metric} during", "decimal"),
            ("Spend per unit before", "money"),
            ("Spend per unit during", "money"),
            ("Per person before", "decimal"),
            ("Per person during", "decimal"),
            ("Change per person", "decimal"),
        ],
        [
            _group_row("Pilot", comparison.pilot),
            _group_row(comparison.control_label, comparison.control),
        ],
        total=["Difference in differences", *blank, _text(comparison.difference)],
        note=f"{windows} {verdict}",
    )


def pilot_tables(inputs: ReportInputs) -> list[dict]:
    if not inputs.pilots:
        return [
            table(
                "pilot",
                "Pilots",
                "pilot",
                [("Pilot", "text")],
                [],
                note="No pilot ran in this period.",
            )
        ]
    return [pilot_table(comparison) for comparison in inputs.pilots]
