"""Text for CSV files people open in spreadsheets: a cell that starts like a formula is written
as text, so a name typed by someone else (a model name from a gateway, a team or project name)
can never run as a formula on the reader's machine (CSV injection)."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
