"""The approvals of the quarter: requests finally approved, by kind and by the approver's level
(the money moved when the final step approved)."""

from collections import defaultdict

from approvals.models import RequestKind, StepRole
from reporting.figures.inputs import ReportInputs
from reporting.figures.tables import table

COLUMNS = [("", "text"), ("Approved", "count"), ("Amount", "money")]


def approvals_tables(inputs: ReportInputs) -> list[dict]:
    approved = inputs.approved
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_role: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for request in approved:
        by_kind[request["kind"]][0] += 1
        by_kind[request["kind"]][1] += request["amount_micros"]
        role = inputs.final_role.get(request["id"], "")
        by_role[role][0] += 1
        by_role[role][1] += request["amount_micros"]
    count, total = len(approved), sum(r["amount_micros"] for r in approved)
    kinds = [k for k in RequestKind.values if k != RequestKind.OFFER]
    roles = dict(StepRole.choices)
    return [
        table(
            "approvals_by_kind",
            "Approvals this quarter by kind",
            "approvals",
            COLUMNS,
            [[RequestKind(k).label, *by_kind[k]] for k in kinds],
            total=["Total", count, total],
            note="Requests finally approved in the quarter (the money moved then)."
            if count
            else "No increase, project allocation or team top-up was approved this quarter.",
        ),
        table(
            "approvals_by_level",
            "Approvals this quarter by approver level",
            "approvals",
            COLUMNS,
            [
                [roles.get(role, "Unknown"), *values]
                for role, values in sorted(
                    by_role.items(), key=lambda i: list(roles).index(i[0]) if i[0] in roles else 99
                )
            ],
            total=["Total", count, total],
            note="By the level of the step that gave the final approval.",
        ),
    ]
