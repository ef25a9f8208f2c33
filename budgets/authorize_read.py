"""What authorize reads, for the API's fast path: the employee named by email or external id
and the budgets that could pay for them this year, in one hand-written statement.

Through the ORM this was two queries (the employee, then the candidates), each built and compiled
on every call; on a busy machine each round trip to PostgreSQL also waits for a wake-up, so the
statement count is what the call costs. The rules are those of `people.selectors.employee_by_key`
(the external id wins over an email, which matches in any case) and of `authorize._candidates`
(the personal budget, the team pool when the team lets usage overflow into it, the project's
allocation for its members), tested to agree (tests/budgets/test_api_authorize.py).
"""

from dataclasses import dataclass
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connections

from budgets.models import Budget
from budgets.usage.drawdown import drawdown_order
from common.rawsql import Columns, execute_prepared, model_columns
from common.text import is_storable
from people.models import Employee, Project, Team


@dataclass
class Reading:
    """An employee and their candidate budgets for `fiscal_year`, in drawdown order, each with
    its owner attached (the employee with their user and team, the team, the project)."""

    employee: Employee
    fiscal_year: int
    budgets: list[Budget]


def employee_and_candidates(
    key: str, *, fiscal_year: int, project: Project | None
) -> Reading | None:
    """The employee named by `key` and their candidate budgets, in one statement; None when the
    key names nobody."""
    key = key.strip()
    if not is_storable(key):
        return None
    db = Budget.objects.db
    connection = connections[db]
    sql, layout = _statement(db)
    project_id = project.pk if project is not None else None
    rows = execute_prepared(sql, [key, key.lower(), fiscal_year, project_id, project_id])
    if not rows:
        return None
    employee = team = None
    project_budget = personal = pool = None
    for row in rows:
        start, instances = 0, []
        for columns in layout:
            values = row[start : start + len(columns.names)]
            start += len(columns.names)
            # A LEFT JOIN with nothing on that side gives a row of NULLs.
            instances.append(None if values[0] is None else columns.build(db, connection, values))
        if employee is None:
            employee, user, team, _ = instances
            Employee.user.field.set_cached_value(employee, user)
            Employee.team.field.set_cached_value(employee, team)
        budget = instances[3]
        if budget is None:
            continue
        Budget.employee.field.set_cached_value(budget, employee if budget.employee_id else None)
        Budget.team.field.set_cached_value(budget, team if budget.team_id else None)
        Budget.project.field.set_cached_value(budget, project if budget.project_id else None)
        if budget.project_id:
            project_budget = budget
        elif budget.employee_id:
            personal = budget
        else:
            pool = budget
    order = drawdown_order(project_budget=project_budget, personal=personal, pool=pool)
    return Reading(employee, fiscal_year, order)


@cache
def _statement(db: str) -> tuple[str, list[Columns]]:
    """The employee (by external id, else by LOWER(email): two indexed lookups), their user and
    team, and a row per candidate budget of the year (LEFT JOIN: one row of NULLs for none)."""
    connection = connections[db]
    user_model = get_user_model()
    parts = [(Employee, "e"), (user_model, "u"), (Team, "t"), (Budget, "b")]
    layout = [model_columns(model, alias, connection) for model, alias in parts]
    employee, user = Employee._meta.db_table, user_model._meta.db_table
    members = Project.members.through._meta.db_table
    true = "TRUE" if connection.vendor == "postgresql" else "1"
    sql = (
        "WITH who AS (SELECT id FROM ("  # nosec B608  # noqa: S608 (table names from the models, values as parameters)
        f"SELECT e1.id, 0 AS pick, '' AS email FROM {employee} e1 WHERE e1.external_id = %s "
        f"UNION ALL SELECT e2.id, 1, u2.email FROM {employee} e2 "
        f"JOIN {user} u2 ON u2.id = e2.user_id WHERE LOWER(u2.email) = %s"
        ") found ORDER BY pick, email, id LIMIT 1) "
        f"SELECT {', '.join(columns.select for columns in layout)} FROM who "
        f"JOIN {employee} e ON e.id = who.id JOIN {user} u ON u.id = e.user_id "
        f"LEFT JOIN {Team._meta.db_table} t ON t.id = e.team_id "
        f"LEFT JOIN {Budget._meta.db_table} b ON b.fiscal_year = %s AND ("
        "b.employee_id = e.id "
        f"OR (b.team_id = e.team_id AND t.has_pool = {true} AND t.pool_overflow = {true}) "
        f"OR (b.project_id = %s AND EXISTS (SELECT 1 FROM {members} m "
        "WHERE m.project_id = %s AND m.employee_id = e.id))) "
        "ORDER BY b.id"
    )
    return sql, layout
