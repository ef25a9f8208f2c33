from datetime import date

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from budgets.models import Budget
from people.models import Department, Employee, Level, Project, Team
from people.roles import FINANCE, HR


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.django.Password("pw")


def staff_user(role: str, **kwargs):
    user = UserFactory(is_staff=True, **kwargs)
    user.groups.add(Group.objects.get(name=role))
    return user


def hr_user(**kwargs):
    return staff_user(HR, **kwargs)


def finance_user(**kwargs):
    return staff_user(FINANCE, **kwargs)


def level(name: str = "mid") -> Level:
    return Level.objects.get(name=name)


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    name = factory.Sequence(lambda n: f"Department {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    department = factory.SubFactory(DepartmentFactory)


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    user = factory.SubFactory(UserFactory)
    level = factory.LazyFunction(level)
    team = factory.SubFactory(TeamFactory)
    hire_date = date(2020, 1, 6)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    code = factory.Sequence(lambda n: f"project-{n}")
    name = factory.Sequence(lambda n: f"Project {n}")
    starts_on = date(2026, 1, 1)


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    employee = factory.SubFactory(EmployeeFactory)
    fiscal_year = 2026


def api_key(*scopes: str, source: str = "gateway") -> str:
    """A fresh integration key with the given scopes (default ingest and authorize)."""
    from budgets.models import IntegrationKey

    _, key = IntegrationKey.objects.create_key(
        name=f"test {source}", source=source, scopes=list(scopes) or ["ingest", "authorize"]
    )
    return key


def price(model_name: str = "m", *, input_usd: str = "3", output_usd: str = "15", since=None):
    from datetime import UTC, datetime
    from decimal import Decimal

    from budgets.models import TokenPrice

    return TokenPrice.objects.create(
        model_name=model_name,
        input_per_million_micros=int(Decimal(input_usd) * 10**6),
        output_per_million_micros=int(Decimal(output_usd) * 10**6),
        cached_input_per_million_micros=0,
        effective_from=since or datetime(2020, 1, 1, tzinfo=UTC),
    )


def carry_half(*, expiry_months: int = 3):
    """The company's carryover rule of the rollover tests: half of what is unused, no cap,
    expiring `expiry_months` into the new year."""
    from decimal import Decimal

    from people.models import CompanySettings

    row, _ = CompanySettings.objects.get_or_create(pk=1)
    row.carryover_share_percent = Decimal(50)
    row.carryover_cap_micros = None
    row.carryover_expiry_months = expiry_months
    row.save()
    return row
