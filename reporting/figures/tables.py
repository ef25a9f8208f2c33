"""The shape every figure returns. A table is a dict so the snapshot is plain JSON: {"key",
"title", "section", "columns": [{"label", "kind"}], "rows": [[...]], "total": [...] or None,
"note"}. Kinds: text, money (micros), count, tokens, percent (decimal string), decimal, date
(ISO). A column of kind "row" takes each row's own kind from "row_kinds"."""

from common.money import percent

NO_TEAM, NO_DEPARTMENT, NO_PROJECT = "No team", "No department", "No project"
CORRECTIONS_LABEL = "Price corrections"


def table(key, title, section, columns, rows, *, total=None, note="", row_kinds=None) -> dict:
    shaped = {
        "key": key,
        "title": title,
        "section": section,
        "columns": [{"label": label, "kind": kind} for label, kind in columns],
        "rows": rows,
        "total": total,
        "note": note,
    }
    if row_kinds is not None:
        shaped["row_kinds"] = row_kinds
    return shaped


def pct(part: int, whole: int) -> str | None:
    """A percent cell: part of whole as a decimal string, None when the whole is zero."""
    value = percent(part, whole)
    return None if value is None else str(value)
