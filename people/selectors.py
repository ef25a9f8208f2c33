from datetime import date

from django.core.cache import cache
from django.db.models import Case, Q, Subquery, When
from django.db.models.functions import Lower
from django.utils import timezone

from common import fiscal
from common.text import is_storable
from people.models import SETTINGS_CACHE_KEY, CompanySettings, Employee
from people.roles import FINANCE, HR

SETTINGS_CACHE_SECONDS = 30


def company_settings() -> CompanySettings:
    """The company's one settings row, created with defaults on first use.

    Read on every balance and authorize call, so it is cached (CACHE_URL; 30 s). Saving the
    row clears the cache; with a per-process cache other processes see a change within 30 s."""
    settings_row = cache.get(SETTINGS_CACHE_KEY)
    if settings_row is None:
        settings_row, _ = CompanySettings.objects.get_or_create(pk=1)
        cache.set(SETTINGS_CACHE_KEY, settings_row, SETTINGS_CACHE_SECONDS)
    return settings_row


def company_today() -> date:
    """Today in the company's zone (TIME_ZONE), not UTC."""
    return timezone.localdate()


def fiscal_year_of(day: date, *, settings_row: CompanySettings | None = None) -> int:
    settings_row = settings_row or company_settings()
    return fiscal.fiscal_year_of(day, settings_row.fiscal_year_start_month)


def current_fiscal_year() -> int:
    return fiscal_year_of(company_today())


def fiscal_year_period(fiscal_year: int) -> fiscal.Period:
    return fiscal.fiscal_year_period(fiscal_year, company_settings().fiscal_year_start_month)


def employee_by_key(key: str) -> Employee | None:
    """An employee by sign-in email (any case) or by the HR system's external id: one statement.

    The external id wins over an email. Not one OR across a join (which scans every user), but
    `external_id = key OR id = (the employee whose LOWER(email) is the key)`: the subquery runs
    once on the index on LOWER(email) (migration people 0003), and the OR of two indexed
    equalities is a bitmap OR of the external id's unique index and the primary key. A key no
    database could store (a NUL, a lone surrogate) names nobody."""
    key = key.strip()
    if not is_storable(key):
        return None
    employees = Employee.objects.select_related("user", "team", "manager")
    if "@" not in key:
        return employees.filter(external_id=key).first()
    by_email = (
        Employee.objects.annotate(email_lower=Lower("user__email"))
        .filter(email_lower=key.lower())
        .order_by("user__email", "pk")
        .values("pk")[:1]
    )
    return (
        employees.filter(Q(external_id=key) | Q(pk=Subquery(by_email)))
        .order_by(Case(When(external_id=key, then=0), default=1), "user__email")
        .first()
    )


def user_can_see_employee(user, employee: Employee) -> bool:
    """The person themselves, anyone above them in the management chain, Finance, HR and
    superusers. Checked on the server for every page and API call that shows a person's money."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or employee.user_id == user.pk:
        return True
    if user.groups.filter(name__in=[FINANCE, HR]).exists():
        return True
    manager, hops = employee.manager, 0
    while manager is not None and hops < 50:
        if manager.user_id == user.pk:
            return True
        manager, hops = manager.manager, hops + 1
    return False


def _ids_below(employee_ids: list[int]) -> list[int]:
    """The ids of everyone below these people in the management chain, direct and indirect
    (one query per level)."""
    level, seen, below = list(employee_ids), set(employee_ids), []
    while level:
        level = [
            pk
            for pk in Employee.objects.filter(manager_id__in=level).values_list("pk", flat=True)
            if pk not in seen
        ]
        seen.update(level)
        below.extend(level)
    return below


def employee_reports(manager: Employee) -> list[Employee]:
    """Everyone below a manager, direct and indirect, active first."""
    found = Employee.objects.select_related("user", "team", "level", "manager__user").filter(
        pk__in=_ids_below([manager.pk])
    )
    return sorted(found, key=lambda e: (not e.is_active, e.display_name.lower()))


def employee_ids_below(user) -> list[int]:
    """The ids of everyone below this person in the management chain: the people whose
    records their manager may see."""
    return _ids_below(list(Employee.objects.filter(user_id=user.pk).values_list("pk", flat=True)))
