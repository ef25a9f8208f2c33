"""The code's shape, checked on every build: where money may move, how large a file or a
function may grow, and that imports inside functions say why.

Money moves only in the ledger kernel (budgets/ledger/): nothing else writes a ledger entry, a
budget's stored totals, the daily spend rollup or a new budget. The scan reads the source
(AST), so a new writer anywhere fails here before it can drift from the kernel's rules."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["approvals", "audit", "budgets", "common", "compensation", "config", "people", "reporting"]
APPS += [p.parent.name for p in ROOT.glob("*/apps.py") if p.parent.name not in APPS]
KERNEL = ROOT / "budgets" / "ledger"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 100
MONEY_MODELS = {"LedgerEntry", "Budget", "DailySpend"}
TOTALS = {"allocated_micros", "spent_micros", "reserved_micros", "carried_over_micros"}
WRITE_METHODS = {
    "create",
    "bulk_create",
    "get_or_create",
    "update_or_create",
    "bulk_update",
    "update",
    "delete",
}
TABLES = {"budgets_ledgerentry", "budgets_budget", "budgets_dailyspend"}
SQL_WRITES = ("INSERT INTO", "UPDATE ", "COPY ", "DELETE FROM")


def application_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" not in path.parts:
                files.append(path)
    return sorted(files)


def _chain_names(node: ast.AST) -> set[str]:
    """The names a call's receiver is built from: Budget.objects.filter(...).update -> {Budget}."""
    names = set()
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Name):
            names.add(node.id)
            return names
        else:
            return names


def _text_of(node: ast.AST) -> str:
    """A string or f-string's literal text, with `{Model._meta.db_table}` parts as the table."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                names = _chain_names(value.value)
                model = next(iter(names & MONEY_MODELS), None)
                parts.append(f"budgets_{model.lower()}" if model else "{}")
        return "".join(parts)
    return ""


def money_writes(source: str) -> list[tuple[int, str]]:
    """Each place in `source` that writes an entry, a total, the daily rollup or a budget."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            method = node.func.attr
            models = _chain_names(node.func.value) & MONEY_MODELS
            if method in WRITE_METHODS and models:
                keywords = {k.arg for k in node.keywords}
                rows_only = models == {"Budget"} and method == "update" and not keywords & TOTALS
                if not rows_only:
                    found.append((node.lineno, f"{'/'.join(sorted(models))}...{method}()"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            keywords = {k.arg for k in node.keywords}
            if node.func.id in {"LedgerEntry", "DailySpend"} or (
                node.func.id == "Budget" and keywords & TOTALS
            ):
                found.append((node.lineno, f"{node.func.id}(...)"))
        text = _text_of(node).upper()
        if text and any(w in text for w in SQL_WRITES) and any(t.upper() in text for t in TABLES):
            found.append((node.lineno, "SQL that writes a money table"))
    return found


def test_nothing_outside_the_ledger_kernel_writes_entries_totals_or_budgets():
    outside = {
        f"{path.relative_to(ROOT)}:{line} {what}"
        for path in application_files()
        if KERNEL not in path.parents
        for line, what in money_writes(path.read_text())
    }
    assert not outside, "money moves outside budgets/ledger/:\n" + "\n".join(sorted(outside))


def test_the_kernel_itself_is_where_the_writes_are():
    # the scan finds the kernel's own writes, so an empty result elsewhere means something
    kernel = [w for path in KERNEL.rglob("*.py") for w in money_writes(path.read_text())]
    assert len(kernel) >= 8


@pytest.mark.parametrize(
    "snippet",
    [
        "LedgerEntry.objects.create(budget=b, kind='usage', amount_micros=1)",
        "LedgerEntry.objects.bulk_create(rows)",
        "Budget.objects.filter(pk=1).update(spent_micros=F('spent_micros') + 1)",
        "Budget.objects.get_or_create(fiscal_year=2026, employee=e)",
        "DailySpend.objects.filter(budget_id=1).update(events=2)",
        "entry = LedgerEntry(budget=b)",
        "cursor.execute(f'UPDATE {Budget._meta.db_table} SET spent_micros = 0')",
        "cursor.execute('INSERT INTO budgets_ledgerentry (id) VALUES (1)')",
        "cursor.copy(f'COPY {LedgerEntry._meta.db_table} (id) FROM STDIN')",
    ],
)
def test_the_scan_catches_each_way_of_writing_money(snippet):
    assert money_writes(snippet)


def test_the_scan_leaves_reads_and_rule_changes_alone():
    reads = (
        "Budget.objects.filter(pk=1).update(carryover_expired_on=day)\n"
        "LedgerEntry.objects.filter(budget=b).count()\n"
        "cursor.execute(f'SELECT id FROM {Budget._meta.db_table}')\n"
    )
    assert money_writes(reads) == []


NOTIFICATIONS = ROOT / "notifications"


def notification_bypasses(source: str) -> list[tuple[int, str]]:
    """Each place in `source` that tells someone without notifications.services.notify: an
    import of the model or the email task, or a write on Notification."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in {
            "notifications.models",
            "notifications.tasks",
        }:
            found.append((node.lineno, f"from {node.module} import ..."))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in WRITE_METHODS
            and "Notification" in _chain_names(node.func.value)
        ):
            found.append((node.lineno, f"Notification...{node.func.attr}()"))
    return found


def test_only_notify_makes_a_notification_or_queues_its_email():
    outside = {
        f"{path.relative_to(ROOT)}:{line} {what}"
        for path in application_files()
        if NOTIFICATIONS not in path.parents
        for line, what in notification_bypasses(path.read_text())
    }
    assert not outside, "tell people through notifications.services.notify:\n" + "\n".join(
        sorted(outside)
    )
    assert notification_bypasses(
        "from notifications.tasks import notification_email_send\n"
        "Notification.objects.get_or_create(user=u, message=m)\n"
    ) == [(1, "from notifications.tasks import ..."), (2, "Notification...get_or_create()")]


def test_notifications_sits_below_the_apps_that_tell_people():
    above = {"approvals", "audit", "budgets", "compensation", "reporting"}
    upward = set()
    for path in NOTIFICATIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            upward |= {f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in above}
    assert not upward, f"notifications imports an app above it: {sorted(upward)}"


def test_no_application_file_is_over_600_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for path in application_files()
        if (n := len(path.read_text().splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"split these by concept: {long}"


def test_no_application_function_is_over_100_lines():
    long = {}
    for path in application_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)} {node.name}"] = length
    assert not long, f"split these: {long}"


def test_an_import_inside_a_function_says_why():
    """Only to break the ordinary "service queues a task, task calls the service" pair (or a
    registration in AppConfig.ready), each with a one-line comment on or above it."""
    silent = []
    for path in application_files():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    here = lines[inner.lineno - 1]
                    above = lines[inner.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        silent.append(f"{path.relative_to(ROOT)}:{inner.lineno}")
    assert not silent, "a function-level import needs its reason in a comment: " + ", ".join(silent)
