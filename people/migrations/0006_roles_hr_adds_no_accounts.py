from django.db import migrations

from people.roles import roles_sync


class Migration(migrations.Migration):
    """HR no longer holds `auth.user` add: accounts come in through the employee admin, and
    access (staff, groups, permissions, passwords) is a superuser's."""

    dependencies = [
        ("people", "0005_employee_agreed_annual_budget"),
        ("budgets", "0008_rollover_item_hold_forfeited"),
        ("approvals", "0003_roles_for_approvals"),
        ("compensation", "0002_default_bands_policy_letter_rules"),
        ("reporting", "0002_roles_for_reports"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
