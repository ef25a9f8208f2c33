"""The email of a notification: its subject, its text and the link to the page where it is acted
on, built from the one configured base URL (settings.ALLOT_BASE_URL).

Apps above this one add lines to the emails of a kind (approvals adds the one-click decision
links) by registering a function here from their AppConfig.ready, so this app imports none of
them and no link that acts is stored in the database."""

from collections.abc import Callable

from django.conf import settings

from notifications.kinds import Kind
from notifications.models import Notification

ACTION_LABELS = {
    Kind.THRESHOLD: "See the budget or ask for more",
    Kind.PROJECTED: "See the budget or ask for more",
    Kind.REQUEST_WAITING: "Open the request to decide",
    Kind.REQUEST_DECIDED: "See the request",
    Kind.DELEGATION: "See what waits for you",
    Kind.ROLLOVER: "Open the rollover",
    Kind.REPORT: "Open the report",
    Kind.RECONCILIATION: "Open the reconciliation",
}
DEFAULT_SUBJECTS = {
    Kind.THRESHOLD: "Allot: budget threshold reached",
    Kind.PROJECTED: "Allot: budget projected to run out",
    Kind.REQUEST_WAITING: "Allot: a request waits for your decision",
    Kind.REQUEST_DECIDED: "Allot: your request was decided",
    Kind.DELEGATION: "Allot: you stand in for an approver",
    Kind.ROLLOVER: "Allot: the rollover needs finance",
    Kind.REPORT: "Allot: a report is ready",
    Kind.RECONCILIATION: "Allot: usage and provider costs differ",
}

_extras: dict[str, Callable[[Notification], list[str]]] = {}


def email_extra_register(kind: str, lines: Callable[[Notification], list[str]]) -> None:
    """`lines(note)` gives more lines for the emails of `kind` (called when the email is sent)."""
    _extras[kind] = lines


def absolute_url(path: str) -> str:
    """A path of the app as an address people can open, from ALLOT_BASE_URL."""
    return settings.ALLOT_BASE_URL.rstrip("/") + "/" + path.lstrip("/")


def email_subject(note: Notification) -> str:
    if note.subject:
        return note.subject
    return DEFAULT_SUBJECTS.get(note.kind) or f"Allot: {note.message[:80]}"


def email_section(note: Notification) -> str:
    """The message, the link to act on it, and any registered extra lines."""
    label = ACTION_LABELS.get(note.kind, "Open Allot")
    lines = [note.message, "", f"{label}: {absolute_url(note.link or '/')}"]
    more = _extras.get(note.kind)
    if more is not None and note.done_at is None:
        lines += more(note)
    return "\n".join(lines)


def email_body(note: Notification) -> str:
    return (
        email_section(note)
        + "\n\n-- \nAllot. One email a day instead: choose the daily digest on your dashboard, "
        + absolute_url("/")
        + "\n"
    )


def digest_body(notes: list[Notification]) -> str:
    sections = [f"{note.created_at:%b %-d}. {email_section(note)}" for note in notes]
    return (
        f"{len(notes)} new in Allot since the last digest.\n\n"
        + "\n\n----\n\n".join(sections)
        + "\n\n-- \nAllot. One email per message instead: change it on your dashboard, "
        + absolute_url("/")
        + "\n"
    )
