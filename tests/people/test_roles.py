import pytest
from django.contrib.auth.models import Group

from people.roles import ENGINEERS, FINANCE, HR, MANAGERS
from people.services import managers_group_sync
from tests.factories import EmployeeFactory

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def test_the_data_migration_made_the_four_roles_with_their_permissions():
    assert {"people.change_employee", "people.add_level", "budgets.add_ledgerentry"} <= perms(HR)
    assert "budgets.change_tokenprice" not in perms(HR)
    assert {"budgets.change_tokenprice", "people.change_companysettings"} <= perms(FINANCE)
    assert "people.change_employee" not in perms(FINANCE)
    assert perms(MANAGERS) == set() and perms(ENGINEERS) == set()
    # nobody may change or delete a ledger entry, whatever their role
    for role in (HR, FINANCE):
        assert not {"budgets.change_ledgerentry", "budgets.delete_ledgerentry"} & perms(role)


def test_managers_are_exactly_the_people_with_active_reports():
    boss = EmployeeFactory()
    report = EmployeeFactory(manager=boss)
    managers_group_sync()
    managers = Group.objects.get(name=MANAGERS).user_set
    assert list(managers.all()) == [boss.user]

    report.is_active = False
    report.save()
    managers_group_sync()
    assert not managers.exists()
