"""A batch's events resolved against the database: employees, projects and prices, a few
queries per batch, never per event. An event that does not resolve is rejected, not raised."""

from bisect import bisect_right
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.functions import Lower

from budgets.calculations import cost_at
from budgets.models import TokenPrice
from budgets.usage.parse import (
    MAX_COST_MICROS_PER_EVENT,
    EmployeeRef,
    IngestResult,
    ParsedEvent,
    TeamRef,
)
from common.rawsql import text_array
from people.models import Employee, Project, Team


def _employees_by_key(keys: set[str]) -> dict[str, Employee | EmployeeRef]:
    """Employees by lower-cased email, then by external id, in two indexed lookups (an OR
    across the user join would scan every user). On PostgreSQL hand-written with array
    parameters, returning only the ids and team flags ingest needs: building a thousand
    Employee, User and Team instances cost more than the query."""
    found: dict[str, Employee | EmployeeRef] = {}
    lowered = sorted({key.lower() for key in keys if "@" in key})
    if connection.vendor != "postgresql":
        employees = Employee.objects.select_related("user", "team")
        if lowered:
            by_email = employees.annotate(email_lower=Lower("user__email")).filter(
                email_lower__in=lowered
            )
            found.update((employee.email_lower, employee) for employee in by_email)
        others = {key for key in keys if key.lower() not in found}
        if others:
            found.update((e.external_id, e) for e in employees.filter(external_id__in=others))
        return found
    select = (
        "SELECT {key}, e.id, e.team_id, t.has_pool, t.pool_overflow "  # nosec B608  # noqa: S608
        f"FROM {Employee._meta.db_table} e "
        f"JOIN {get_user_model()._meta.db_table} u ON u.id = e.user_id "
        f"LEFT JOIN {Team._meta.db_table} t ON t.id = e.team_id WHERE {{key}} = ANY(%s::text[])"
    )
    with connection.cursor() as cursor:
        for key_sql, wanted in (("LOWER(u.email)", lowered), ("e.external_id", None)):
            if wanted is None:
                wanted = sorted(key for key in keys if key.lower() not in found)
            if not wanted:
                continue
            cursor.execute(select.format(key=key_sql), [text_array(wanted)])
            for key, pk, team_id, has_pool, overflow in cursor.fetchall():
                team = TeamRef(team_id, has_pool, overflow) if team_id else None
                found[key] = EmployeeRef(pk, team_id, team)
    return found


def resolve_employees(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    keys = {e.employee_key for e in events if e.employee is None}
    found = _employees_by_key(keys) if keys else {}
    kept = []
    for event in events:
        if event.employee is None:
            event.employee = found.get(event.employee_key) or found.get(event.employee_key.lower())
        if event.employee is None:
            result.reject(
                event.index,
                event.event_id,
                {"employee": [f"No employee with email or external id {event.employee_key!r}."]},
            )
            continue
        kept.append(event)
    return kept


def resolve_projects(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    codes = {e.project_code for e in events if e.project_code and e.project is None}
    found = {p.code: p for p in Project.objects.filter(code__in=codes)} if codes else {}
    kept = []
    for event in events:
        if event.project_code and event.project is None:
            event.project = found.get(event.project_code)
            if event.project is None:
                result.reject(
                    event.index,
                    event.event_id,
                    {"project": [f"No project with code {event.project_code!r}."]},
                )
                continue
        kept.append(event)
    return kept


def resolve_prices(events: list[ParsedEvent], result: IngestResult) -> list[ParsedEvent]:
    """Cost from the price in force for the model when the call happened (effective-dated).
    Runs inside the write transaction; on PostgreSQL the price rows are share-locked."""
    models = {e.model_name for e in events if not e.cost_given}
    versions: dict[str, list[TokenPrice]] = defaultdict(list)
    prices = TokenPrice.objects.filter(model_name__in=models).order_by("effective_from")
    if models and connection.vendor == "postgresql":
        prices = TokenPrice.objects.raw(
            f"SELECT * FROM {TokenPrice._meta.db_table} WHERE model_name = ANY(%s) "  # nosec B608  # noqa: S608
            "ORDER BY effective_from FOR SHARE",
            [sorted(models)],
        )
    for price in prices if models else []:
        versions[price.model_name].append(price)
    starts = {name: [p.effective_from for p in prices] for name, prices in versions.items()}
    kept = []
    for event in events:
        if not event.cost_given:
            position = bisect_right(starts.get(event.model_name, []), event.occurred_at)
            if position == 0:
                result.reject(
                    event.index,
                    event.event_id,
                    {
                        "model": [
                            f"No price is known for model {event.model_name!r} at "
                            f"{event.occurred_at.isoformat()}; send cost_usd or ask finance to "
                            "add the model to the price table."
                        ]
                    },
                )
                continue
            price = versions[event.model_name][position - 1]
            event.price = price
            event.cost_micros = cost_at(
                price,
                input_tokens=event.input_tokens,
                output_tokens=event.output_tokens,
                cached_input_tokens=event.cached_input_tokens,
                cache_write_tokens=event.cache_write_tokens,
                cache_write_1h_tokens=event.cache_write_1h_tokens,
            )
            if event.cost_micros > MAX_COST_MICROS_PER_EVENT:
                result.reject(
                    event.index,
                    event.event_id,
                    {"input_tokens": ["Priced above $100,000 for one call: not plausible."]},
                )
                continue
        kept.append(event)
    return kept
