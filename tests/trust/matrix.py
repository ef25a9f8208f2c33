"""The permission matrix: every page, admin section, API endpoint and action against every role.

One table drives both the test (tests/trust/test_permission_matrix.py walks every row through
real requests and asserts each cell) and the documentation (`python -m tests.trust.matrix`
prints the Markdown that docs/security.md holds; a test fails when the two differ).

Cells are HTTP statuses. Rows that change something also say how to tell that the change
happened, and the test checks it happened exactly for the roles whose status is a success.
Rows about what a page shows (an offer's request in a list, say) name a text that marks it, and
the test checks exactly the roles the row names find it there: their 200 cells read "200 shown",
everyone else's "200 hidden" (or the row's own words, e.g. "200 refused" for a form's error).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"

ROLES = [
    "anonymous",
    "engineer",
    "manager",
    "skip_level",
    "other_manager",
    "hr",
    "finance",
    "superuser",
    "key_ingest",
    "key_authorize",
    "key_read",
    "key_transfers",
]
ROLE_NOTES = {
    "anonymous": "no session, no key",
    "engineer": "the engineer the objects belong to (requester of the request)",
    "manager": "the engineer's manager",
    "skip_level": "the manager's manager",
    "other_manager": "a manager of another team (changes ids in the URL)",
    "hr": "HR group, staff",
    "finance": "Finance group, staff",
    "superuser": "superuser",
    "key_ingest": "API key with the ingest scope only",
    "key_authorize": "API key with the authorize scope only",
    "key_read": "API key with the read_balances scope only",
    "key_transfers": "API key with the request_transfers scope only",
}
SESSION_ROLES = ROLES[1:8]
KEY_ROLES = ROLES[8:]


@dataclass
class Row:
    section: str
    name: str
    method: str
    path: Callable[[dict], str]
    expect: dict[str, int]
    data: Callable[[dict], dict] | None = None
    json: bool = False
    effect: Callable[[dict], bool] | None = None  # did the write happen?
    # who the write must happen for; None: every role whose status is a success
    effect_roles: set[str] | None = None
    success: tuple[int, ...] = (200, 201, 302)
    notes: str = ""
    # what the page shows when it shows the thing the row is about, and who must find it there
    reveals: Callable[[dict], str] | None = None
    revealed_to: set[str] = field(default_factory=set)
    marks: tuple[str, str] = ("shown", "hidden")  # how a 200 cell reads: found, not found
    # request headers every role sends on top of its own credentials (a SCIM bearer token)
    headers: Callable[[dict], dict] | None = None

    def cell(self, role: str) -> str:
        status = self.expect[role]
        if self.reveals is None or status != 200:
            return str(status)
        return f"{status} {self.marks[0] if role in self.revealed_to else self.marks[1]}"


def cells(default: int, **overrides: int) -> dict[str, int]:
    """A row where every role gets `default` unless named."""
    return {role: overrides.get(role, default) for role in ROLES}


def web(signed_in: int, **overrides: int) -> dict[str, int]:
    """A web page: anonymous and API keys are sent to sign in (302), people get `signed_in`."""
    base = dict.fromkeys(("anonymous", *KEY_ROLES), 302)
    base |= dict.fromkeys(SESSION_ROLES, signed_in)
    return base | overrides


def admin_page(**allowed: int) -> dict[str, int]:
    """An admin page: non-staff and keys go to the admin sign-in (302); staff without the
    permission get 403; superusers 200."""
    base = dict.fromkeys(ROLES, 302)
    base |= {"hr": 403, "finance": 403, "superuser": 200}
    return base | allowed


def api(**allowed: int) -> dict[str, int]:
    """An API endpoint: 401 without credentials, 403 with the wrong ones."""
    base = {"anonymous": 401}
    base |= dict.fromkeys((*SESSION_ROLES, *KEY_ROLES), 403)
    return base | allowed


def markdown(rows: list[Row]) -> str:
    short = {
        "anonymous": "anon",
        "engineer": "eng",
        "manager": "mgr",
        "skip_level": "skip",
        "other_manager": "other mgr",
        "hr": "HR",
        "finance": "fin",
        "superuser": "super",
        "key_ingest": "key: ingest",
        "key_authorize": "key: authorize",
        "key_read": "key: read",
        "key_transfers": "key: transfers",
    }
    out = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            out += [
                "",
                f"### {section}",
                "",
                "| page or action | " + " | ".join(short[r] for r in ROLES) + " |",
                "|---|" + "---:|" * len(ROLES),
            ]
        label = f"{row.method} {row.name}" + (f" ({row.notes})" if row.notes else "")
        out.append(f"| {label} | " + " | ".join(row.cell(r) for r in ROLES) + " |")
    return "\n".join(out).strip() + "\n"


def roles_legend() -> str:
    return "\n".join(f"- **{role}**: {note}" for role, note in ROLE_NOTES.items()) + "\n"


if __name__ == "__main__":
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    django.setup()
    import sys

    from tests.trust.matrix_rows import ROWS

    table = markdown(ROWS)
    if sys.argv[1:2] == ["--write"]:  # replace the table in docs/security.md between the markers
        doc = Path(__file__).resolve().parents[2] / "docs" / "security.md"
        text = doc.read_text()
        start, end = text.index(START) + len(START), text.index(END)
        doc.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    else:
        print(table, end="")
